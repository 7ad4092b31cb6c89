//! The Debian package as built (`cargo build --release` then `cargo deb --no-build`; `.ci/run`
//! does both before the tests): extracted with `dpkg-deb -x` into a temporary root, it holds
//! exactly the files of `dist/` where they belong, the configuration is a conffile, the packaged
//! binary validates the packaged configuration with `--check`, and `systemd-analyze` verifies
//! the packaged unit and rates its exposure as the README says.
//!
//! The package is not built here: a release build takes minutes, so `.ci/run` builds it once.
//! Without a package the test is skipped (naming the commands that build it) unless
//! `POCX_REQUIRE_PACKAGE` is 1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::process::{self, run_in, Finished};
use crate::support::TempDir;

use super::dist;
use super::shipped::assert_service_check_output;

/// Set to 1 (CI does) to fail instead of skip where no package was built.
const REQUIRE_PACKAGE: &str = "POCX_REQUIRE_PACKAGE";
/// Set to 1 (CI does) to fail instead of skip where `systemd-analyze` is missing.
const REQUIRE_SYSTEMD: &str = "POCX_REQUIRE_SYSTEMD";

const LIMIT: Duration = Duration::from_secs(60);
const UNIT: &str = "pocx_aggregator.service";
const UNIT_DIR: &str = "usr/lib/systemd/system";
const CONFIG: &str = "etc/pocx_aggregator/aggregator_config.yaml";

/// Each file of `dist/`, where the package puts it and with which mode.
const SHIPPED: &[(&str, &str, u32)] = &[
    ("aggregator_config.yaml", CONFIG, 0o600),
    (
        UNIT,
        "usr/lib/systemd/system/pocx_aggregator.service",
        0o644,
    ),
    (
        "pocx_aggregator.rules.yml",
        "usr/share/pocx_aggregator/pocx_aggregator.rules.yml",
        0o644,
    ),
    (
        "grafana-dashboard.json",
        "usr/share/pocx_aggregator/grafana-dashboard.json",
        0o644,
    ),
    (
        "nginx-pocx_aggregator.conf",
        "usr/share/doc/pocx-aggregator/examples/nginx-pocx_aggregator.conf",
        0o644,
    ),
];

fn run(dir: &Path, program: &Path, args: &[&str]) -> Finished {
    let mut command = Command::new(program);
    command.args(args).env_remove("RUST_LOG");
    run_in(dir, &mut command, None, LIMIT)
}

/// `target/debian/pocx-aggregator_<version>-1_<arch>.deb`, when it was built.
fn built_package(dir: &Path, dpkg: &Path) -> Result<PathBuf, String> {
    let arch = run(dir, dpkg, &["--print-architecture"]);
    assert_eq!(arch.code, Some(0), "{}", arch.output());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let name = format!(
        "pocx-aggregator_{}-1_{}.deb",
        env!("CARGO_PKG_VERSION"),
        arch.stdout.trim()
    );
    let path = target.join("debian").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no package at {} (build it: cargo build --release --locked && cargo deb --no-build --locked)",
            path.display()
        ))
    }
}

/// The host's unit files (targets and slices the unit depends on) under `root`, so
/// `systemd-analyze --root` finds them; the package's own unit is left as it is.
fn add_host_units(root: &Path) {
    let into = root.join(UNIT_DIR);
    for entry in std::fs::read_dir(Path::new("/").join(UNIT_DIR)).unwrap() {
        let path = entry.unwrap().path();
        let target = into.join(path.file_name().unwrap());
        if path.is_file() && !target.exists() {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The figure of "Overall exposure level for pocx_aggregator.service: 1.1 OK".
fn exposure_score(output: &str) -> Option<&str> {
    let line = output
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    line.rsplit_once(": ")?.1.split_whitespace().next()
}

#[test]
fn the_package_ships_dist_and_its_binary_validates_its_configuration() {
    let test = "the_package_ships_dist";
    let (Some(dpkg_deb), Some(dpkg)) = (
        process::program_or_skip(test, "dpkg-deb", REQUIRE_PACKAGE, "dpkg"),
        process::program_or_skip(test, "dpkg", REQUIRE_PACKAGE, "dpkg"),
    ) else {
        return;
    };
    let work = TempDir::new("package");
    let deb = match built_package(work.path(), &dpkg) {
        Ok(path) => path,
        Err(reason) => return process::skip_unless_required(test, &reason, REQUIRE_PACKAGE),
    };
    let root = work.path().join("root");
    let deb_text = deb.to_str().unwrap();
    let done = run(
        work.path(),
        &dpkg_deb,
        &["-x", deb_text, root.to_str().unwrap()],
    );
    assert_eq!(done.code, Some(0), "{}", done.output());
    let control = work.path().join("control");
    let done = run(
        work.path(),
        &dpkg_deb,
        &["-e", deb_text, control.to_str().unwrap()],
    );
    assert_eq!(done.code, Some(0), "{}", done.output());

    // Exactly what dist/ holds, where it belongs; a difference means a stale package.
    for (source, installed, mode) in SHIPPED {
        let packaged = root.join(installed);
        let bytes = std::fs::read(&packaged).unwrap_or_else(|e| panic!("{installed}: {e}"));
        assert!(
            bytes == std::fs::read(dist(source)).unwrap(),
            "{installed} is not dist/{source}: rebuild the package (cargo deb --no-build)"
        );
        use std::os::unix::fs::PermissionsExt;
        let found = std::fs::metadata(&packaged).unwrap().permissions().mode() & 0o7777;
        assert_eq!(found, *mode, "{installed}: mode {found:o}");
    }
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), format!("/{CONFIG}"));
    // Not started on install (the pool is a placeholder until edited), restarted on upgrade.
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("try-restart pocx_aggregator.service"),
        "{postinst}"
    );
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");

    let binary = root.join("usr/bin/pocx_aggregator");
    let done = run(work.path(), &binary, &["--version"]);
    assert_eq!(
        done.stdout.trim(),
        format!("pocx_aggregator {}", env!("CARGO_PKG_VERSION")),
        "{}",
        done.output()
    );
    // /var/lib/pocx_aggregator does not exist here: --check must not need it.
    let config = root.join(CONFIG);
    let done = run(
        work.path(),
        &binary,
        &["--check", "-c", config.to_str().unwrap()],
    );
    assert_service_check_output(done.code, &done.stdout, &done.output());

    let Some(analyze) = process::program_or_skip(
        &format!("{test} (systemd-analyze)"),
        "systemd-analyze",
        REQUIRE_SYSTEMD,
        "systemd",
    ) else {
        return;
    };
    add_host_units(&root);
    let root_arg = format!("--root={}", root.display());
    run(work.path(), &analyze, &["verify", &root_arg, UNIT]).assert_clean("systemd-analyze verify");

    let done = run(
        work.path(),
        &analyze,
        &["security", "--offline=yes", &root_arg, "--no-pager", UNIT],
    );
    let score = exposure_score(&done.stdout)
        .unwrap_or_else(|| panic!("no exposure level: {}", done.output()))
        .to_string();
    let value: f64 = score.parse().unwrap();
    assert!(value <= 1.5, "exposure {score}: the unit lost hardening");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("pocx_aggregator.service: {score} ")),
        "the README does not quote the exposure level {score}"
    );
}

#[test]
fn the_exposure_line_is_read() {
    let out = "✓ UMask= …\n\n→ Overall exposure level for pocx_aggregator.service: 1.1 OK 🙂\n";
    assert_eq!(exposure_score(out), Some("1.1"));
    assert_eq!(exposure_score("nothing"), None);
}
