//! Message filtering: kmod's depmod shows WARNING and above by default and one more level
//! per `-v` (NOTICE, INFO, DEBUG); this wraps the caller's [`Reporter`] with that filter.

use crate::{Level, Reporter};

/// A [`Reporter`] with depmod's verbosity threshold applied.
pub struct Log<'a> {
    reporter: &'a mut dyn Reporter,
    max: Level,
}

impl<'a> Log<'a> {
    pub fn new(reporter: &'a mut dyn Reporter, verbose: u8) -> Log<'a> {
        Log {
            reporter,
            max: threshold(verbose),
        }
    }

    /// Report `text` if `level` is within the threshold.
    pub fn msg(&mut self, level: Level, text: &str) {
        if level <= self.max {
            self.reporter.message(level, text);
        }
    }

    pub fn error(&mut self, text: &str) {
        self.msg(Level::Error, text);
    }

    pub fn warning(&mut self, text: &str) {
        self.msg(Level::Warning, text);
    }

    pub fn stdout(&mut self, bytes: &[u8]) {
        self.reporter.stdout(bytes);
    }
}

/// The most verbose level shown with `verbose` times `-v`.
pub fn threshold(verbose: u8) -> Level {
    match verbose {
        0 => Level::Warning,
        1 => Level::Notice,
        2 => Level::Info,
        _ => Level::Debug,
    }
}

/// `strerror` text of an errno, as glibc prints it.
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error") {
        Some(cut) => text.get(..cut).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// `strerror` text of an I/O error.
pub fn io_strerror(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => strerror(errno),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_glibc_words() {
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(strerror(22), "Invalid argument");
        assert_eq!(strerror(8), "Exec format error");
    }

    #[test]
    fn threshold_rises_with_verbose() {
        assert_eq!(threshold(0), Level::Warning);
        assert_eq!(threshold(1), Level::Notice);
        assert_eq!(threshold(2), Level::Info);
        assert_eq!(threshold(9), Level::Debug);
    }
}
