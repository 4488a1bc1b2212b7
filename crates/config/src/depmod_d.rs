//! depmod.d: `search`, `override`, `external`, `exclude` (kmod-formats §5.2).
