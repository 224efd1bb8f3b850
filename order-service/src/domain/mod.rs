//! The order domain, free of HTTP and SQL.

pub mod new_order;
pub mod status;
