//! Logical lines of kmod configuration files (kmod-formats §5.2.1).
