//! The block device core served to QEMU as a vhost-user backend
//! (`-device vhost-user-blk`).

use super::{QueueRunner, VhostDevice};
use crate::devices::virtio::block::BlockDevice;
use std::io;

impl VhostDevice for BlockDevice {
    const NAME: &'static str = "hutch-blk";
    const NUM_QUEUES: usize = 1;
    const MAX_QUEUE_SIZE: usize = 1024;

    fn device_features(&self) -> u64 {
        self.features()
    }

    fn config_space(&self) -> Vec<u8> {
        BlockDevice::config_space(self).to_vec()
    }

    fn handle(&mut self, event: usize, queues: &mut QueueRunner<'_>) -> io::Result<()> {
        queues.run(event, |m, q| self.process_queue(m, q))
    }
}
