//! chatnode library root (layout tour added with the modules).
pub mod config;
pub mod error;
pub mod protocol;
pub mod store;
