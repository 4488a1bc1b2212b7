//! `modkit sim sweep` (placeholder).
use super::Failure;

pub fn sweep(_args: &[String]) -> Result<(), Failure> {
    Err(Failure::usage("sweep: not yet"))
}
