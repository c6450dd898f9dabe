//! hutch-agent: PID 1 of a hutch machine. It prepares the guest (mounts,
//! hostname, loopback, reaping) and serves the host over vsock: control
//! requests on port 1024, process stdio streams on port 1025, layer uploads
//! on port 1026, published ports' connections on port 1027, copies into
//! and out of containers on port 1029.

mod container;
mod events;
mod exec;
mod forward;
mod info;
mod init;
mod layers;
mod network;
mod pty;
mod server;
mod shares;
mod sys;
mod volumes;

use std::sync::Arc;

fn main() {
    // A container's first process, before it execs the container's command.
    let role = std::env::args().nth(1);
    let is = |arg: &std::ffi::CStr| role.as_deref().map(str::as_bytes) == Some(arg.to_bytes());
    if is(container::init::INIT_ARG) {
        container::init::main();
    }
    if is(container::COPY_ARG) {
        // A copy into or out of a container, chrooted in its root.
        container::copy_helper_main();
    }
    if std::process::id() != 1 {
        eprintln!("hutch-agent: runs only as the machine's init (PID 1)");
        std::process::exit(2);
    }
    init::leave_initramfs();
    init::prepare_guest();
    shares::mount_all();
    if let Some(uplink) = network::Uplink::of_machine() {
        if let Err(e) = network::configure_uplink(&uplink) {
            sys::console::log(&format!("the machine's network: {e}"));
        }
    }
    if let Err(e) = container::prepare_hierarchy() {
        sys::console::log(&format!("cgroups for containers: {e}"));
    }
    let cache = Arc::new(layers::LayerCache::open_disk());
    let networks = network::Networks::shared();
    let events = Arc::new(events::Events::default());
    let containers = Arc::new(container::Containers::open(
        cache.clone(),
        networks.clone(),
        Arc::new(volumes::Volumes::default()),
        events.clone(),
    ));
    let table = Arc::new(exec::ProcessTable::default());
    exec::start_reaper(table.clone(), containers.clone());

    let streams = listen(protocol::STREAM_PORT);
    let stream_table = table.clone();
    std::thread::spawn(move || server::serve_streams(streams, stream_table));

    let uploads = listen(protocol::LAYER_PORT);
    let upload_cache = cache.clone();
    std::thread::spawn(move || server::serve_uploads(uploads, upload_cache));

    let forwards = listen(protocol::FORWARD_PORT);
    let forward_containers = containers.clone();
    std::thread::spawn(move || server::serve_forwards(forwards, forward_containers));

    let archives = listen(protocol::ARCHIVE_PORT);
    let archive_containers = containers.clone();
    std::thread::spawn(move || server::serve_archives(archives, archive_containers));

    let control = listen(protocol::AGENT_PORT);
    sys::console::log("ready");
    // PID 1 must never return: the kernel panics when init exits.
    server::serve_control(
        control,
        server::Services {
            processes: table,
            cache,
            containers,
            networks,
            events,
        },
    );
}

fn listen(port: u32) -> sys::vsock::VsockListener {
    sys::vsock::VsockListener::bind(port).unwrap_or_else(|e| {
        sys::console::fatal(&format!("cannot listen on vsock port {port}: {e}"))
    })
}
