//! hutch-agent: PID 1 of a hutch machine. It prepares the guest (mounts,
//! hostname, loopback, reaping) and serves the host over vsock: control
//! requests on port 1024, process stdio streams on port 1025.

mod exec;
mod info;
mod init;
mod server;
mod vsock;

use std::sync::Arc;

fn main() {
    if std::process::id() == 1 {
        init::prepare_guest();
    }
    let table = Arc::new(exec::ProcessTable::default());
    exec::start_reaper(table.clone());

    let streams = match vsock::VsockListener::bind(protocol::STREAM_PORT) {
        Ok(l) => l,
        Err(e) => init::fatal(&format!(
            "cannot listen on vsock port {}: {e}",
            protocol::STREAM_PORT
        )),
    };
    let stream_table = table.clone();
    std::thread::spawn(move || server::serve_streams(streams, stream_table));

    let control = match vsock::VsockListener::bind(protocol::AGENT_PORT) {
        Ok(l) => l,
        Err(e) => init::fatal(&format!(
            "cannot listen on vsock port {}: {e}",
            protocol::AGENT_PORT
        )),
    };
    init::log("ready");
    // PID 1 must never return: the kernel panics when init exits.
    server::serve_control(control, table);
}
