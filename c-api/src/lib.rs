//! C ABI: `libzkha` and `zkha.h`.
