//! PyO3 binding: the native module `zkha._zkha` behind the `zkha` Python package.
