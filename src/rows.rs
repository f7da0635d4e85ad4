//! The store's rows: what the engine keeps per state, laid out so that a search of millions of
//! states holds little more than the rows themselves. [`Chunked`] appends fixed-width rows in
//! chunks (never copied while growing), [`Edges`] appends rows of successors, and
//! [`PackedRows`] keeps a state's part ids in as few bytes as each part table needs.

/// Rows of `width` values each, appended in chunks of [`Chunked::ROWS`] rows: the store grows
/// without copying what it holds (a doubling vector holds its old and its new copy at once,
/// and up to half its capacity unused), and leaves at most one chunk unfilled. A chunk grows
/// to its full size as a vector does ([`grow_within`]), so a small search stays small.
pub(crate) struct Chunked<T> {
    width: usize,
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T: Copy> Chunked<T> {
    pub(crate) const ROWS: usize = 1 << 15;

    pub(crate) fn new(width: usize) -> Self {
        Chunked {
            width,
            chunks: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, row: &[T]) {
        debug_assert_eq!(row.len(), self.width);
        if self.len.is_multiple_of(Self::ROWS) {
            self.chunks.push(Vec::new());
        }
        let last = self.chunks.last_mut().expect("a chunk was just made");
        grow_within(last, row.len(), Self::ROWS * self.width);
        last.extend_from_slice(row);
        self.len += 1;
    }

    pub(crate) fn row(&self, i: usize) -> &[T] {
        let at = (i % Self::ROWS) * self.width;
        &self.chunks[i / Self::ROWS][at..at + self.width]
    }

    /// Its length and its chunks, each of [`Chunked::ROWS`] rows but the last.
    pub(crate) fn into_chunks(self) -> (usize, Vec<Vec<T>>) {
        (self.len, self.chunks)
    }

    /// The bytes it holds, unfilled room included.
    pub(crate) fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<T>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

/// Makes room in `chunk` for `more` values, doubling its capacity as a vector would but never
/// beyond `max` (its full size, which the caller never exceeds).
fn grow_within<T>(chunk: &mut Vec<T>, more: usize, max: usize) {
    let need = chunk.len() + more;
    if need > chunk.capacity() {
        let to = (chunk.capacity() * 2).max(need).max(64).min(max);
        chunk.reserve_exact(to - chunk.len());
    }
}

/// The successors of each expanded state, a row per state in state order, appended in chunks
/// (as [`Chunked`], and for the same reasons); a row never spans two chunks. A row is written
/// as differences, each from the value before it (the first from the row's own state), in a
/// variable number of bytes: a breadth-first search numbers a state's new successors one after
/// the other, so most differences take one byte instead of four.
pub struct Edges {
    chunks: Vec<Vec<u8>>,
    /// Per row: where it starts, as chunk and offset (`chunk << OFFSET_BITS | offset`).
    start: Chunked<u32>,
}

/// The largest bytes one value takes.
const MAX_VALUE_BYTES: usize = 5;

impl Edges {
    const OFFSET_BITS: u32 = 20;
    const CHUNK: usize = 1 << Self::OFFSET_BITS;

    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Edges {
            chunks: Vec::new(),
            start: Chunked::new(1),
        }
    }

    pub fn rows(&self) -> usize {
        self.start.len()
    }

    /// Appends the next state's successors.
    pub fn push_row(&mut self, row: &[u32]) {
        assert!(
            row.len() * MAX_VALUE_BYTES <= Self::CHUNK,
            "a state has fewer successors than a chunk holds"
        );
        let most = row.len() * MAX_VALUE_BYTES;
        if self
            .chunks
            .last()
            .is_none_or(|c| c.len() + most > Self::CHUNK)
        {
            self.chunks.push(Vec::new());
        }
        let chunk = self.chunks.len() - 1;
        assert!(
            chunk < 1 << (32 - Self::OFFSET_BITS),
            "the successors of a search fit in 4 GiB"
        );
        let last = &mut self.chunks[chunk];
        grow_within(last, most, Self::CHUNK);
        self.start
            .push(&[(chunk as u32) << Self::OFFSET_BITS | last.len() as u32]);
        let mut prev = self.start.len() as i64 - 1;
        for &v in row {
            let d = i64::from(v) - prev;
            // Zigzag: small differences of either sign in few bytes.
            let mut z = ((d << 1) ^ (d >> 63)) as u64;
            while z >= 0x80 {
                last.push((z as u8) | 0x80);
                z >>= 7;
            }
            last.push(z as u8);
            prev = i64::from(v);
        }
    }

    /// Row `i`'s successors, into `out` (cleared first).
    pub fn row(&self, i: usize, out: &mut Vec<u32>) {
        out.clear();
        let at = |pos: u32| {
            (
                (pos >> Self::OFFSET_BITS) as usize,
                (pos as usize) & (Self::CHUNK - 1),
            )
        };
        let (chunk, from) = at(self.start.row(i)[0]);
        // A row ends where the next begins, or (being the last of its chunk) with its chunk.
        let to = match (i + 1 < self.rows()).then(|| at(self.start.row(i + 1)[0])) {
            Some((next, to)) if next == chunk => to,
            _ => self.chunks[chunk].len(),
        };
        let mut prev = i as i64;
        let (mut z, mut shift) = (0u64, 0);
        for &b in &self.chunks[chunk][from..to] {
            z |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                let d = (z >> 1) as i64 ^ -((z & 1) as i64);
                prev += d;
                out.push(prev as u32);
                (z, shift) = (0, 0);
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.start.bytes()
    }
}

/// Rows of part ids, each id in as many bytes as its slot's largest id needs (none while a
/// slot's table holds one part): a state of `two-way-three-devices` is ten ids in 12 bytes
/// instead of 40. When an id outgrows its slot's width, every row is written again at the new
/// width, a chunk at a time (at most four times per slot over a search).
pub struct PackedRows {
    slots: usize,
    /// Bytes per id, per slot (0 to 4).
    widths: Vec<u8>,
    /// Where each slot's id starts in a row.
    offsets: Vec<usize>,
    rows: Chunked<u8>,
    /// A row being encoded.
    scratch: Vec<u8>,
}

/// The bytes an id needs.
fn width_of(id: u32) -> u8 {
    (4 - id.leading_zeros() / 8) as u8
}

/// An id from its little-endian bytes (none for 0).
fn read(bytes: &[u8]) -> u32 {
    bytes.iter().rev().fold(0, |id, &b| id << 8 | u32::from(b))
}

/// The ids of a packed `row` whose slots have these widths and offsets.
fn unpack<'a>(
    row: &'a [u8],
    widths: &'a [u8],
    offsets: &'a [usize],
) -> impl Iterator<Item = u32> + 'a {
    widths
        .iter()
        .zip(offsets)
        .map(move |(&w, &at)| read(&row[at..at + w as usize]))
}

impl PackedRows {
    pub fn new(slots: usize) -> Self {
        PackedRows {
            slots,
            widths: vec![0; slots],
            offsets: vec![0; slots],
            rows: Chunked::new(0),
            scratch: Vec::new(),
        }
    }

    /// Row `i`'s ids, in slot order.
    pub fn ids(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        unpack(self.rows.row(i), &self.widths, &self.offsets)
    }

    /// Row `i`'s ids, into `out` (cleared first).
    pub fn decode(&self, i: usize, out: &mut Vec<u32>) {
        out.clear();
        out.extend(self.ids(i));
    }

    /// Whether row `i` holds exactly `ids`.
    pub fn equals(&self, i: usize, ids: &[u32]) -> bool {
        self.ids(i).eq(ids.iter().copied())
    }

    /// Appends a row, widening slots first if one of `ids` does not fit.
    pub fn push(&mut self, ids: &[u32]) {
        debug_assert_eq!(ids.len(), self.slots);
        if ids
            .iter()
            .zip(&self.widths)
            .any(|(&id, &w)| width_of(id) > w)
        {
            self.widen(ids);
        }
        let mut row = std::mem::take(&mut self.scratch);
        self.encode(ids, &mut row);
        self.rows.push(&row);
        self.scratch = row;
    }

    /// `ids` at the current widths, into `out` (cleared first).
    fn encode(&self, ids: &[u32], out: &mut Vec<u8>) {
        out.clear();
        for (&id, &w) in ids.iter().zip(&self.widths) {
            out.extend_from_slice(&id.to_le_bytes()[..w as usize]);
        }
    }

    /// Grows the widths of the slots `ids` does not fit and writes every row again.
    fn widen(&mut self, ids: &[u32]) {
        let (old_widths, old_offsets) = (self.widths.clone(), self.offsets.clone());
        let old_stride: usize = old_widths.iter().map(|&w| w as usize).sum();
        for (w, &id) in self.widths.iter_mut().zip(ids) {
            *w = (*w).max(width_of(id));
        }
        let mut at = 0;
        for (slot, &w) in self.widths.iter().enumerate() {
            self.offsets[slot] = at;
            at += w as usize;
        }
        let (mut left, chunks) = std::mem::replace(&mut self.rows, Chunked::new(at)).into_chunks();
        let (mut ids, mut row) = (Vec::with_capacity(self.slots), Vec::new());
        // A chunk is let go as soon as its rows are written again, so the rows are never held
        // twice.
        for chunk in chunks {
            let rows = left.min(Chunked::<u8>::ROWS);
            left -= rows;
            for r in 0..rows {
                ids.clear();
                let old = &chunk[r * old_stride..(r + 1) * old_stride];
                ids.extend(unpack(old, &old_widths, &old_offsets));
                self.encode(&ids, &mut row);
                self.rows.push(&row);
            }
        }
    }

    /// The bytes it holds, unfilled room included.
    pub fn bytes(&self) -> usize {
        self.rows.bytes()
    }
}
