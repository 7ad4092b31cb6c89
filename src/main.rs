//! The `pocx_aggregator` command: parse the command line, load the configuration, set up
//! logging, run until SIGINT/SIGTERM, shut down in order. Errors are printed with their chain of
//! causes; configuration errors exit with code 2, other start-up failures with 1.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;

use pocx_aggregator::app::{App, AppError};
use pocx_aggregator::config::{self, Config, ConfigError};
use pocx_aggregator::{demo, logging, signals::StopSignal};

/// Mining aggregator for PoCX: one cache and one filtered upstream link for a farm of miners.
#[derive(FromArgs)]
struct Cli {
    /// configuration file (default: aggregator_config.yaml)
    #[argh(
        option,
        short = 'c',
        default = "PathBuf::from(\"aggregator_config.yaml\")"
    )]
    config: PathBuf,
    /// validate the configuration, print the effective settings (secrets masked) and exit
    #[argh(switch)]
    check: bool,
    /// run against a built-in simulated upstream with simulated miners (no pool needed)
    #[argh(switch)]
    demo: bool,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
}

#[derive(Debug)]
enum MainError {
    Config(ConfigError),
    Logging(logging::LoggingError),
    App(AppError),
    Demo(std::io::Error),
    Signals(std::io::Error),
}

impl fmt::Display for MainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MainError::Config(e) => write!(f, "{e}"),
            MainError::Logging(_) => write!(f, "cannot set up logging"),
            MainError::App(_) => write!(f, "cannot start"),
            MainError::Demo(_) => write!(f, "cannot start the simulation"),
            MainError::Signals(_) => write!(f, "cannot install signal handlers"),
        }
    }
}

impl Error for MainError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            MainError::Config(_) => None,
            MainError::Logging(e) => Some(e),
            MainError::App(e) => Some(e),
            MainError::Demo(e) | MainError::Signals(e) => Some(e),
        }
    }
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    if cli.version {
        println!("pocx_aggregator {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut message = format!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            match error {
                MainError::Config(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), MainError> {
    if cli.demo {
        return run_demo();
    }
    let config = config::load_file(&cli.config).map_err(MainError::Config)?;
    if cli.check {
        println!("{}", config.masked_summary());
        return Ok(());
    }
    logging::init(&config.logging).map_err(MainError::Logging)?;
    log::info!("{}", config.startup_line());
    serve(&config)
}

/// Runs the app until a stop signal, then shuts it down.
fn serve(config: &Config) -> Result<(), MainError> {
    let stop = StopSignal::install().map_err(MainError::Signals)?;
    let app = App::start(config, false).map_err(MainError::App)?;
    stop.wait();
    log::info!("stop requested: draining and flushing");
    app.shutdown();
    Ok(())
}

fn run_demo() -> Result<(), MainError> {
    let demo = demo::Demo::prepare().map_err(MainError::Demo)?;
    logging::init(&demo.config.logging).map_err(MainError::Logging)?;
    log::warn!("SIMULATION: upstream and miners are simulated; nothing here is real mining");
    log::info!("{}", demo.config.startup_line());
    let stop = StopSignal::install().map_err(MainError::Signals)?;
    let app = App::start(&demo.config, true).map_err(MainError::App)?;
    let miner_addr = app
        .miner_addr()
        .ok_or_else(|| MainError::Demo(std::io::Error::other("miner port not bound")))?;
    let miners = demo.start_miners(miner_addr);
    if let Some(dashboard) = app.dashboard_addr() {
        log::info!("SIMULATION: open http://{dashboard}/ to watch the simulated farm");
    }
    stop.wait();
    log::info!("stop requested: draining and flushing");
    miners.shutdown();
    app.shutdown();
    demo.shutdown();
    Ok(())
}
