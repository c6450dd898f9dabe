//! A container's user and group ids against the machine's: the same
//! without a user namespace, shifted by its mappings with one (`--userns
//! private`), so that a copy shows and takes the container's ids.

use oci_spec::runtime::{LinuxIdMapping, Spec};

/// The id the kernel shows for an id with no mapping.
const OVERFLOW_ID: u32 = 65534;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct IdMap {
    /// (container id, machine id, count) ranges; empty is the identity.
    uids: Vec<(u32, u32, u32)>,
    gids: Vec<(u32, u32, u32)>,
}

fn ranges(maps: Option<&Vec<LinuxIdMapping>>) -> Vec<(u32, u32, u32)> {
    maps.into_iter()
        .flatten()
        .map(|m| (m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// `id` moved from the `from` side of `ranges` to the other; `None` when
/// no range holds it.
fn shift(ranges: &[(u32, u32, u32)], id: u32, to_machine: bool) -> Option<u32> {
    if ranges.is_empty() {
        return Some(id);
    }
    ranges.iter().find_map(|&(inside, outside, count)| {
        let (from, to) = if to_machine {
            (inside, outside)
        } else {
            (outside, inside)
        };
        (id >= from && id - from < count).then(|| to + (id - from))
    })
}

impl IdMap {
    pub fn of(spec: &Spec) -> IdMap {
        let Some(linux) = crate::container::userns::wanted(spec) else {
            return IdMap::default();
        };
        IdMap {
            uids: ranges(linux.uid_mappings().as_ref()),
            gids: ranges(linux.gid_mappings().as_ref()),
        }
    }

    /// The container's (uid, gid) for a file the machine sees as owned by
    /// `(uid, gid)`.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            shift(&self.uids, uid, false).unwrap_or(OVERFLOW_ID),
            shift(&self.gids, gid, false).unwrap_or(OVERFLOW_ID),
        )
    }

    /// The machine's (uid, gid) for the container's; ids it cannot map
    /// go to the container's root.
    pub fn to_machine(&self, uid: u32, gid: u32) -> (u32, u32) {
        let root = self.root();
        (
            shift(&self.uids, uid, true).unwrap_or(root.0),
            shift(&self.gids, gid, true).unwrap_or(root.1),
        )
    }

    /// The machine's (uid, gid) of the container's root.
    pub fn root(&self) -> (u32, u32) {
        (
            shift(&self.uids, 0, true).unwrap_or(0),
            shift(&self.gids, 0, true).unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_shift_both_ways_and_stay_without_a_namespace() {
        let private = IdMap {
            uids: vec![(0, 100_000, 65_536)],
            gids: vec![(0, 200_000, 65_536)],
        };
        assert_eq!(private.to_container(101_000, 200_005), (1000, 5));
        assert_eq!(private.to_container(3, 3), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(private.to_machine(1000, 5), (101_000, 200_005));
        assert_eq!(private.to_machine(70_000, 0), (100_000, 200_000));
        assert_eq!(private.root(), (100_000, 200_000));
        let shared = IdMap::default();
        assert_eq!(shared.to_container(1000, 5), (1000, 5));
        assert_eq!(shared.root(), (0, 0));
    }
}
