//! Memory the unwinder may read: regions copied out of the target while it was stopped (the top
//! of each thread's stack, the vdso). Nothing here touches a live process.

pub use crate::objects::MemoryRegion;

/// Read access to a copy of the target's memory.
pub trait Memory: Sync {
    /// Fills `buf` with the bytes at `addr`. Returns false, leaving `buf` unspecified, when any
    /// of them was not copied.
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;
}

impl Memory for MemoryRegion {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(offset) = addr.checked_sub(self.start) else {
            return false;
        };
        let Ok(offset) = usize::try_from(offset) else {
            return false;
        };
        match offset
            .checked_add(buf.len())
            .and_then(|end| self.bytes.get(offset..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

/// Several copied regions (the stacks of a process, its vdso); a read may span adjacent regions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Regions(pub Vec<MemoryRegion>);

impl Memory for Regions {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let Some(at) = addr.checked_add(done as u64) else {
                return false;
            };
            let Some(region) = self.0.iter().find(|r| r.contains(at)) else {
                return false;
            };
            let available = usize::try_from(region.end() - at).unwrap_or(usize::MAX);
            let take = available.min(buf.len() - done);
            if !region.read(at, &mut buf[done..done + take]) {
                return false;
            }
            done += take;
        }
        true
    }
}
