//! The bit stream of sample records, and Gorilla's value coding in it (Pelkonen et al., VLDB
//! 2015, as Prometheus's `chunkenc/xor.go`): a value XORed with the series' previous one.
//! Pure; reading never panics and answers `None` where the bits run out or are wrong.

/// Bits appended to a byte vector, most significant bit first; the last byte is zero-padded.
#[derive(Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte, 0..8 (0: the next bit starts a new byte).
    used: u8,
}

impl BitWriter {
    pub fn bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// Appends the low `n` bits of `value` (`n <= 64`), a byte's worth at a time.
    pub fn bits(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - u32::from(self.used);
            let take = free.min(n);
            let chunk = (value >> (n - take)) & ((1u64 << take) - 1);
            if let Some(last) = self.bytes.last_mut() {
                *last |= (chunk as u8) << (free - take);
            }
            self.used = ((u32::from(self.used) + take) % 8) as u8;
            n -= take;
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Bits read so far.
    at: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, at: 0 }
    }

    pub fn bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.at / 8)?;
        let bit = byte & (0x80 >> (self.at % 8)) != 0;
        self.at += 1;
        Some(bit)
    }

    /// Reads `n` bits (`n <= 64`), the first one most significant, a byte's worth at a time.
    pub fn bits(&mut self, mut n: u32) -> Option<u64> {
        if self.remaining() < n as usize {
            return None;
        }
        let mut value = 0u64;
        while n > 0 {
            let byte = *self.bytes.get(self.at / 8)?;
            let offset = (self.at % 8) as u32;
            let take = (8 - offset).min(n);
            let chunk = (u64::from(byte) >> (8 - offset - take)) & ((1u64 << take) - 1);
            value = (value << take) | chunk;
            self.at += take as usize;
            n -= take;
        }
        Some(value)
    }

    /// Bits not yet read, padding included.
    pub fn remaining(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.at)
    }

    /// Whether only zero padding of the last byte is left.
    pub fn at_end(&self) -> bool {
        let whole = self.at.div_ceil(8) == self.bytes.len();
        let pad = self.at % 8;
        let clean = pad == 0 || self.bytes.last().is_some_and(|b| b & (0xff >> pad) == 0);
        whole && clean
    }
}

/// What the XOR coder remembers of a series: its last value's bits and the window of the last
/// XOR written with an explicit window (`leading == u8::MAX`: none yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XorState {
    pub last: u64,
    pub leading: u8,
    pub trailing: u8,
}

impl XorState {
    pub fn first(bits: u64) -> Self {
        XorState { last: bits, leading: u8::MAX, trailing: 0 }
    }
}

/// Writes `bits` (a value's `f64::to_bits`) against `state`: `0` if unchanged; `10` and the
/// meaningful bits if they fit the previous window; else `11`, 5 bits of leading zeros, 6 bits
/// of length (0 meaning 64) and the meaningful bits.
pub fn write_xor(w: &mut BitWriter, state: &mut XorState, bits: u64) {
    let delta = bits ^ state.last;
    state.last = bits;
    if delta == 0 {
        w.bit(false);
        return;
    }
    w.bit(true);
    let leading = (delta.leading_zeros() as u8).min(31);
    let trailing = delta.trailing_zeros() as u8;
    if state.leading != u8::MAX && leading >= state.leading && trailing >= state.trailing {
        w.bit(false);
        let meaningful = 64 - u32::from(state.leading) - u32::from(state.trailing);
        w.bits(delta >> state.trailing, meaningful);
        return;
    }
    w.bit(true);
    let meaningful = 64 - u32::from(leading) - u32::from(trailing);
    w.bits(u64::from(leading), 5);
    w.bits(u64::from(meaningful % 64), 6);
    w.bits(delta >> trailing, meaningful);
    (state.leading, state.trailing) = (leading, trailing);
}

/// Reads a value written by [`write_xor`]; `None` on bits that run out or a window that
/// does not fit in 64 bits.
pub fn read_xor(r: &mut BitReader, state: &mut XorState) -> Option<u64> {
    if !r.bit()? {
        return Some(state.last);
    }
    if r.bit()? {
        let leading = r.bits(5)? as u8;
        let meaningful = match r.bits(6)? as u8 {
            0 => 64,
            n => n,
        };
        let trailing = 64u8.checked_sub(leading)?.checked_sub(meaningful)?;
        (state.leading, state.trailing) = (leading, trailing);
    } else if state.leading == u8::MAX {
        return None;
    }
    let meaningful = 64 - u32::from(state.leading) - u32::from(state.trailing);
    let delta = r.bits(meaningful)? << state.trailing;
    state.last ^= delta;
    Some(state.last)
}
