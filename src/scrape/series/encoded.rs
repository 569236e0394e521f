//! A series' encoded labels, one allocation for every queue.

use std::rc::Rc;

/// A series' encoded labels for each queue, in the queues' order: `None`
/// where that queue's write relabeling drops it. At least one is `Some`.
///
/// One allocation per series, shared by the cache and the samples staged for
/// a scrape: each queue's encoding after its length (4 bytes, little endian;
/// `u32::MAX` for `None`), one after another.
#[derive(Clone, PartialEq, Eq)]
pub struct Encoded(Rc<[u8]>);

const ABSENT: u32 = u32::MAX;

impl Encoded {
    /// From each queue's encoding; `None` when no queue sends the series, or one encoding
    /// is 4 GiB or more.
    pub fn new<'a>(per_queue: impl IntoIterator<Item = Option<&'a [u8]>> + Clone) -> Option<Encoded> {
        let size: usize = per_queue.clone().into_iter().map(|e| 4 + e.map_or(0, <[u8]>::len)).sum();
        let mut bytes = Vec::with_capacity(size);
        let mut any = false;
        for encoding in per_queue {
            match encoding {
                Some(e) => {
                    bytes.extend_from_slice(
                        &u32::try_from(e.len()).ok().filter(|&n| n != ABSENT)?.to_le_bytes(),
                    );
                    bytes.extend_from_slice(e);
                    any = true;
                }
                None => bytes.extend_from_slice(&ABSENT.to_le_bytes()),
            }
        }
        any.then(|| Encoded(bytes.into()))
    }

    /// Each queue's encoding, in the queues' order.
    pub fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> {
        let mut rest = &self.0[..];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len);
            if len == ABSENT {
                rest = tail;
                return Some(None);
            }
            let (encoding, tail) = tail.split_at(len as usize);
            rest = tail;
            Some(Some(encoding))
        })
    }

    /// Queue `i`'s encoding.
    #[cfg(test)]
    pub fn queue(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i).flatten()
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|e| e.map(<[u8]>::len))).finish()
    }
}
