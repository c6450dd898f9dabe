//! Talking to a machine's agent: the hybrid vsock socket (`connect`), and
//! a client with one typed call per request, so no caller matches replies
//! itself.

mod client;
mod connect;
pub mod error;

pub use client::{AgentClient, EventStream};
pub use connect::connect_port;
pub use error::AgentError;
