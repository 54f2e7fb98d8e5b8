//! Image references (to be written).
