//! SimKernel (placeholder).
