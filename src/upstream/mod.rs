pub mod error;
pub use error::UpstreamError;
