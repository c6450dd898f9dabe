//! The vsock device core served to QEMU as a vhost-user backend
//! (`-device vhost-user-vsock-device`).

use super::{QueueRunner, VhostDevice};
use crate::devices::virtio::vsock::{VsockDevice, EVENT_QUEUE, NUM_QUEUES, RX_QUEUE, TX_QUEUE};
use std::io;
use std::os::unix::io::RawFd;

impl VhostDevice for VsockDevice {
    const NAME: &'static str = "hutch-vsock";
    const NUM_QUEUES: usize = NUM_QUEUES;
    /// QEMU asks for 1024-entry queues for vhost-user-vsock.
    const MAX_QUEUE_SIZE: usize = 1024;

    fn device_features(&self) -> u64 {
        0
    }

    fn config_space(&self) -> Vec<u8> {
        VsockDevice::config_space(self).to_vec()
    }

    fn host_fd(&self) -> Option<RawFd> {
        Some(self.host_event_fd())
    }

    fn handle(&mut self, event: usize, queues: &mut QueueRunner<'_>) -> io::Result<()> {
        match event {
            TX_QUEUE => queues.run(TX_QUEUE, |m, q| self.process_tx(m, q))?,
            RX_QUEUE => {}
            // The event queue carries only transport resets, which we never send.
            EVENT_QUEUE => return Ok(()),
            Self::HOST_EVENT => self.handle_host_events(),
            _ => return Ok(()),
        }
        // Whatever happened may have made packets for the guest.
        queues.run(RX_QUEUE, |m, q| self.process_rx(m, q))
    }
}
