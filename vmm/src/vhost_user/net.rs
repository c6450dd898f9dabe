//! The net device core served to QEMU as a vhost-user backend
//! (`-netdev vhost-user` + `-device virtio-net-device`).

use super::{QueueRunner, VhostDevice};
use crate::devices::virtio::net::{NetDevice, NUM_QUEUES, RX_QUEUE, TX_QUEUE};
use std::io;
use std::os::unix::io::RawFd;

impl VhostDevice for NetDevice {
    const NAME: &'static str = "hutch-net";
    const NUM_QUEUES: usize = NUM_QUEUES;
    const MAX_QUEUE_SIZE: usize = 1024;
    /// QEMU's virtio-net has its own config space (the MAC comes from its
    /// command line).
    const CONFIG: bool = false;
    const FIX_PROTOCOL_ACK: bool = true;

    fn device_features(&self) -> u64 {
        self.features()
    }

    fn config_space(&self) -> Vec<u8> {
        NetDevice::config_space(self).to_vec()
    }

    fn host_fd(&self) -> Option<RawFd> {
        Some(NetDevice::host_fd(self))
    }

    fn negotiated(&mut self, features: u64) {
        NetDevice::negotiated(self, features);
    }

    fn handle(&mut self, event: usize, queues: &mut QueueRunner<'_>) -> io::Result<()> {
        match event {
            TX_QUEUE => queues.run(TX_QUEUE, |m, q| self.process_tx(m, q))?,
            RX_QUEUE => {}
            Self::HOST_EVENT => self.handle_host_events(),
            _ => return Ok(()),
        }
        // Whatever happened may have made room for, or frames for, the guest.
        queues.run(RX_QUEUE, |m, q| self.process_rx(m, q))
    }
}
