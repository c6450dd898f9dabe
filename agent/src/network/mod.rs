//! The machine's network: its uplink, the bridge networks containers
//! join (docker's default `bridge` and the ones users create), each
//! container's interfaces on them, and the DNS server that lets the
//! containers of a user-defined network find each other by name.

mod attachment;
mod dns;
mod registry;
mod uplink;

pub use attachment::{configure_inside, plug, plug_running, unplug, Attachment};
pub use registry::{MemberSpec, Networks, BRIDGE_NETWORK};
pub use uplink::{configure_uplink, Uplink};
