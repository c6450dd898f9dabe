//! The block device driven as a guest driver would drive it: request
//! chains in mock guest memory, a sparse temporary file as the disk.

use super::request::{
    HEADER_LEN, ID_LEN, S_IOERR, S_OK, S_UNSUPP, T_DISCARD, T_FLUSH, T_GET_ID, T_IN, T_OUT,
    T_WRITE_ZEROES,
};
use super::BlockDevice;
use crate::devices::virtio::test_driver::DriverQueue;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const MEM_SIZE: usize = 16 << 20;
const RING: u64 = 0;
const HEADER_AT: u64 = 0x10000;
const STATUS_AT: u64 = 0x11000;
const DATA_AT: u64 = 0x100000;
const DISK_SIZE: u64 = 64 << 20;

struct Guest {
    mem: GuestMemoryMmap,
    queue: DriverQueue,
    device: BlockDevice,
    disk: PathBuf,
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.disk);
    }
}

impl Guest {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let disk = std::env::temp_dir().join(format!(
            "hutch-blk-test-{}-{}.img",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let f = std::fs::File::create(&disk).unwrap();
        f.set_len(DISK_SIZE).unwrap();
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap();
        Guest {
            queue: DriverQueue::new(&mem, RING),
            device: BlockDevice::open(&disk, "hutch-test-disk").unwrap(),
            mem,
            disk,
        }
    }

    /// Sends one request; returns (status, used length).
    fn request(&mut self, type_: u32, sector: u64, data: Data) -> (u8, u32) {
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(&type_.to_le_bytes());
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        self.mem
            .write_slice(&header, GuestAddress(HEADER_AT))
            .unwrap();
        self.mem.write_obj(0xffu8, GuestAddress(STATUS_AT)).unwrap();
        let mut parts = vec![(HEADER_AT, HEADER_LEN as u32, false)];
        match data {
            Data::None => {}
            Data::ToDevice(bytes) => {
                self.mem.write_slice(bytes, GuestAddress(DATA_AT)).unwrap();
                parts.push((DATA_AT, bytes.len() as u32, false));
            }
            Data::FromDevice(len) => parts.push((DATA_AT, len, true)),
        }
        parts.push((STATUS_AT, 1, true));
        self.send(&parts)
    }

    fn send(&mut self, parts: &[(u64, u32, bool)]) -> (u8, u32) {
        self.queue.add_chain(&self.mem, parts);
        assert!(self.device.process_queue(&self.mem, &mut self.queue.queue));
        let used = self.queue.take_used(&self.mem);
        assert_eq!(used.len(), 1);
        let status: u8 = self.mem.read_obj(GuestAddress(STATUS_AT)).unwrap();
        (status, used[0].1)
    }

    fn data(&self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.mem
            .read_slice(&mut out, GuestAddress(DATA_AT))
            .unwrap();
        out
    }

    fn allocated_bytes(&self) -> u64 {
        std::fs::metadata(&self.disk).unwrap().blocks() * 512
    }
}

enum Data<'a> {
    None,
    ToDevice(&'a [u8]),
    FromDevice(u32),
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 + 1).collect()
}

fn segment(sector: u64, sectors: u32) -> Vec<u8> {
    let mut s = sector.to_le_bytes().to_vec();
    s.extend_from_slice(&sectors.to_le_bytes());
    s.extend_from_slice(&0u32.to_le_bytes());
    s
}

#[test]
fn config_space_reports_capacity_and_limits() {
    let g = Guest::new();
    let c = g.device.config_space();
    assert_eq!(
        u64::from_le_bytes(c[0..8].try_into().unwrap()),
        DISK_SIZE / 512
    );
    assert_eq!(u32::from_le_bytes(c[12..16].try_into().unwrap()), 126);
    assert_eq!(c[56], 1);
}

#[test]
fn written_data_reads_back() {
    let mut g = Guest::new();
    let data = pattern(3 * 4096 + 512);
    assert_eq!(g.request(T_OUT, 100, Data::ToDevice(&data)), (S_OK, 1));
    g.mem
        .write_slice(&vec![0u8; data.len()], GuestAddress(DATA_AT))
        .unwrap();
    let len = data.len() as u32;
    assert_eq!(g.request(T_IN, 100, Data::FromDevice(len)), (S_OK, len + 1));
    assert_eq!(g.data(data.len()), data);
}

#[test]
fn writes_larger_than_the_copy_buffer_are_whole() {
    let mut g = Guest::new();
    let data = pattern(3 << 20);
    assert_eq!(g.request(T_OUT, 8, Data::ToDevice(&data)).0, S_OK);
    let on_disk = std::fs::read(&g.disk).unwrap();
    assert_eq!(&on_disk[4096..4096 + data.len()], &data[..]);
}

#[test]
fn requests_outside_the_disk_fail_without_touching_it() {
    let mut g = Guest::new();
    let last = DISK_SIZE / 512;
    assert_eq!(g.request(T_IN, last, Data::FromDevice(512)), (S_IOERR, 1));
    assert_eq!(
        g.request(T_OUT, last - 1, Data::ToDevice(&[7u8; 1024])).0,
        S_IOERR
    );
    assert_eq!(
        g.request(T_OUT, u64::MAX, Data::ToDevice(&[7u8; 512])).0,
        S_IOERR
    );
    assert_eq!(std::fs::metadata(&g.disk).unwrap().len(), DISK_SIZE);
    // Partial sectors are refused too.
    assert_eq!(g.request(T_OUT, 0, Data::ToDevice(&[7u8; 100])).0, S_IOERR);
    assert_eq!(g.allocated_bytes(), 0);
}

#[test]
fn get_id_flush_and_unknown_types() {
    let mut g = Guest::new();
    let (status, len) = g.request(T_GET_ID, 0, Data::FromDevice(ID_LEN as u32));
    assert_eq!((status, len), (S_OK, ID_LEN as u32 + 1));
    assert_eq!(&g.data(15), b"hutch-test-disk");
    assert_eq!(g.request(T_FLUSH, 0, Data::None), (S_OK, 1));
    assert_eq!(g.request(99, 0, Data::None), (S_UNSUPP, 1));
}

#[test]
fn discard_and_write_zeroes_give_space_back() {
    let mut g = Guest::new();
    let data = pattern(1 << 20);
    assert_eq!(g.request(T_OUT, 0, Data::ToDevice(&data)).0, S_OK);
    assert_eq!(g.request(T_OUT, 4096, Data::ToDevice(&data)).0, S_OK);
    assert!(g.allocated_bytes() >= 2 << 20);
    let seg = segment(0, 2048);
    assert_eq!(g.request(T_DISCARD, 0, Data::ToDevice(&seg)).0, S_OK);
    let seg = segment(4096, 2048);
    assert_eq!(g.request(T_WRITE_ZEROES, 0, Data::ToDevice(&seg)).0, S_OK);
    assert_eq!(g.allocated_bytes(), 0);
    assert_eq!(g.request(T_IN, 4096, Data::FromDevice(4096)).0, S_OK);
    assert_eq!(g.data(4096), vec![0u8; 4096]);
    // A segment past the end fails the whole request.
    let seg = segment(DISK_SIZE / 512, 8);
    assert_eq!(g.request(T_DISCARD, 0, Data::ToDevice(&seg)).0, S_IOERR);
}

#[test]
fn zeroed_writes_become_holes() {
    let mut g = Guest::new();
    assert_eq!(g.request(T_OUT, 0, Data::ToDevice(&pattern(8192))).0, S_OK);
    assert_eq!(g.request(T_OUT, 0, Data::ToDevice(&[0u8; 8192])).0, S_OK);
    assert_eq!(g.allocated_bytes(), 0);
    assert_eq!(g.request(T_IN, 0, Data::FromDevice(8192)).0, S_OK);
    assert_eq!(g.data(8192), vec![0u8; 8192]);
}

#[test]
fn malformed_chains_are_returned_and_the_device_keeps_working() {
    let mut g = Guest::new();
    // Header too short.
    assert_eq!(g.send(&[(HEADER_AT, 8, false), (STATUS_AT, 1, true)]).1, 0);
    // No writable status byte.
    assert_eq!(g.send(&[(HEADER_AT, 16, false)]).1, 0);
    // Data outside guest memory.
    let far = MEM_SIZE as u64 - 512;
    assert_eq!(
        g.send(&[
            (HEADER_AT, 16, false),
            (far, 4096, true),
            (STATUS_AT, 1, true)
        ])
        .1,
        0
    );
    assert_eq!(g.device.malformed_requests(), 3);
    let data = pattern(512);
    assert_eq!(g.request(T_OUT, 1, Data::ToDevice(&data)), (S_OK, 1));
}

#[test]
fn a_huge_declared_length_is_refused_before_any_copy() {
    let mut g = Guest::new();
    // 64 descriptors all naming the same 8 MiB: 512 MiB, more than the disk.
    let mut parts = vec![(HEADER_AT, HEADER_LEN as u32, false)];
    parts.extend(std::iter::repeat_n((DATA_AT, 8 << 20, false), 64));
    parts.push((STATUS_AT, 1, true));
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&T_OUT.to_le_bytes());
    g.mem.write_slice(&header, GuestAddress(HEADER_AT)).unwrap();
    assert_eq!(g.send(&parts), (S_IOERR, 1));
    assert_eq!(g.allocated_bytes(), 0);
}
