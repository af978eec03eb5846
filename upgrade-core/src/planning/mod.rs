//! Planning: what a site state means (`applied`, `pending`) and the one global
//! plan order across components.

pub mod plan;
pub mod site_state;
