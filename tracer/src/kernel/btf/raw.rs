//! Just enough of the BTF format (`linux/btf.h`) to find struct members:
//! one pass records where each type starts (4 bytes a type), nothing is
//! decoded until asked. A full index of the kernel's 5 MiB of BTF costs
//! 13 MiB (aya) to 40 MiB (btf-rs); this costs half a MiB. Every read is
//! bounds-checked: a `--btf` file is the user's.

use std::ops::Range;

const MAGIC: u16 = 0xeb9f;
/// `struct btf_header`: magic, version, flags, then five u32s.
const HEADER_LEN: usize = 24;
/// `struct btf_type`: name_off, info, size/type.
const TYPE_LEN: usize = 12;
/// Anonymous members can nest; kernel structs nest a few levels at most.
const MAX_DEPTH: u32 = 32;

const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_TYPE_TAG: u32 = 18;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    #[error("not BTF (no BTF magic)")]
    Magic,
    #[error("BTF of the other byte order")]
    ByteOrder,
    #[error("BTF header or sections out of bounds")]
    Bounds,
    #[error("BTF type {0} is truncated")]
    Truncated(u32),
    #[error("BTF type {id} has unknown kind {kind}")]
    Kind { id: u32, kind: u32 },
    #[error("BTF has no type {0}")]
    NoType(u32),
    #[error("BTF string at {0} is out of bounds")]
    String(u32),
    #[error("BTF types nest deeper than {MAX_DEPTH} (a loop?)")]
    Depth,
}

/// Bytes after the 12-byte `btf_type` for this kind (`None`: unknown kind).
fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        // INT, VAR, DECL_TAG: one u32.
        1 | 14 | 17 => 4,
        // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG.
        2 | 7..=12 | 16 | 18 => 0,
        // ARRAY: type, index_type, nelems.
        3 => 12,
        // STRUCT, UNION (members), DATASEC (var_secinfo), ENUM64: 12 each.
        4 | 5 | 15 | 19 => 12 * vlen,
        // ENUM (name, val), FUNC_PROTO (name, type): 8 each.
        6 | 13 => 8 * vlen,
        _ => return None,
    })
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

/// One type's fixed part.
#[derive(Clone, Copy, Debug)]
pub struct Type {
    name_off: u32,
    info: u32,
    /// Size for structs and unions, the referenced type for modifiers.
    size_or_type: u32,
    /// Where it starts in the type section.
    at: usize,
}

impl Type {
    pub fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    /// Members hold a bitfield size in their offset's top byte.
    fn kind_flag(&self) -> bool {
        self.info >> 31 != 0
    }
    pub fn size(&self) -> u32 {
        self.size_or_type
    }
    fn is_struct_or_union(&self) -> bool {
        matches!(self.kind(), KIND_STRUCT | KIND_UNION)
    }
}

/// Where each type starts, over BTF bytes held elsewhere.
pub struct Index {
    types: Range<usize>,
    strings: Range<usize>,
    /// Start of type id `n` (ids begin at 1; 0 is void) at `starts[n - 1]`.
    starts: Vec<u32>,
}

impl Index {
    pub fn build(data: &[u8]) -> Result<Self, RawError> {
        let magic = data.get(..2).ok_or(RawError::Magic)?;
        match u16::from_ne_bytes([magic[0], magic[1]]) {
            MAGIC => {}
            m if m == MAGIC.swap_bytes() => return Err(RawError::ByteOrder),
            _ => return Err(RawError::Magic),
        }
        let field = |i: usize| u32_at(data, 4 + 4 * i).ok_or(RawError::Bounds);
        let hdr_len = field(0)? as usize;
        let section = |off: u32, len: u32| {
            let start = hdr_len.checked_add(off as usize).ok_or(RawError::Bounds)?;
            let end = start.checked_add(len as usize).ok_or(RawError::Bounds)?;
            if hdr_len < HEADER_LEN || end > data.len() {
                return Err(RawError::Bounds);
            }
            Ok(start..end)
        };
        let types = section(field(1)?, field(2)?)?;
        let strings = section(field(3)?, field(4)?)?;
        // Starts are kept as u32s: a section of 4 GiB or more is no BTF.
        let t = data.get(types.clone()).ok_or(RawError::Bounds)?;
        if u32::try_from(t.len()).is_err() {
            return Err(RawError::Bounds);
        }
        // Kernel types average about 21 bytes: one allocation, no regrowth.
        let mut starts = Vec::with_capacity(t.len() / 16);
        let mut at = 0usize;
        while at < t.len() {
            let id = u32::try_from(starts.len() + 1).map_err(|_| RawError::Bounds)?;
            let info = u32_at(t, at + 4).ok_or(RawError::Truncated(id))?;
            let kind = (info >> 24) & 0x1f;
            let extra =
                extra_len(kind, (info & 0xffff) as usize).ok_or(RawError::Kind { id, kind })?;
            let end = at + TYPE_LEN + extra;
            if end > t.len() {
                return Err(RawError::Truncated(id));
            }
            // `at` < the section's length, which fits in a u32.
            starts.push(at as u32);
            at = end;
        }
        Ok(Self {
            types,
            strings,
            starts,
        })
    }

    /// How many types (void not counted).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn ty(&self, data: &[u8], id: u32) -> Result<Type, RawError> {
        let at = id
            .checked_sub(1)
            .and_then(|i| self.starts.get(i as usize))
            .ok_or(RawError::NoType(id))?;
        let at = *at as usize;
        let t = data.get(self.types.clone()).ok_or(RawError::Bounds)?;
        // Checked whole when the index was built.
        let read = |i: usize| u32_at(t, at + 4 * i).ok_or(RawError::Truncated(id));
        Ok(Type {
            name_off: read(0)?,
            info: read(1)?,
            size_or_type: read(2)?,
            at,
        })
    }

    /// The type's name, without its NUL.
    pub fn name<'d>(&self, data: &'d [u8], t: &Type) -> Result<&'d [u8], RawError> {
        self.string(data, t.name_off)
    }

    fn string<'d>(&self, data: &'d [u8], off: u32) -> Result<&'d [u8], RawError> {
        let rest = data
            .get(self.strings.clone())
            .and_then(|s| s.get(off as usize..))
            .ok_or(RawError::String(off))?;
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(RawError::String(off))?;
        Ok(&rest[..len])
    }

    /// The first struct called `name` (a name can also be a forward
    /// declaration, a typedef or a union's).
    pub fn struct_named(&self, data: &[u8], name: &str) -> Result<Option<Type>, RawError> {
        for id in 1..=self.starts.len() as u32 {
            let t = self.ty(data, id)?;
            if t.kind() == KIND_STRUCT && self.name(data, &t)? == name.as_bytes() {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Bit offset of `member` in the struct or union `t`, looking through
    /// anonymous structs and unions (their members belong to the parent).
    pub fn member_bit_offset(
        &self,
        data: &[u8],
        t: &Type,
        member: &str,
    ) -> Result<Option<u32>, RawError> {
        self.member_in(data, t, member.as_bytes(), 0)
    }

    fn member_in(
        &self,
        data: &[u8],
        t: &Type,
        member: &[u8],
        depth: u32,
    ) -> Result<Option<u32>, RawError> {
        if depth > MAX_DEPTH {
            return Err(RawError::Depth);
        }
        let types = data.get(self.types.clone()).ok_or(RawError::Bounds)?;
        for i in 0..t.vlen() {
            let at = t.at + TYPE_LEN + 12 * i;
            // Checked whole when the index was built.
            let read = |k: usize| u32_at(types, at + 4 * k).ok_or(RawError::Bounds);
            let (name_off, type_id, offset) = (read(0)?, read(1)?, read(2)?);
            let bits = if t.kind_flag() {
                offset & 0x00ff_ffff
            } else {
                offset
            };
            let name = self.string(data, name_off)?;
            if name == member {
                return Ok(Some(bits));
            }
            if name.is_empty() {
                let inner = self.resolve(data, type_id)?;
                if inner.is_struct_or_union()
                    && let Some(off) = self.member_in(data, &inner, member, depth + 1)?
                {
                    return bits.checked_add(off).map(Some).ok_or(RawError::Bounds);
                }
            }
        }
        Ok(None)
    }

    /// The type behind typedefs and qualifiers.
    fn resolve(&self, data: &[u8], mut id: u32) -> Result<Type, RawError> {
        for _ in 0..MAX_DEPTH {
            let t = self.ty(data, id)?;
            match t.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Ok(t),
            }
        }
        Err(RawError::Depth)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// BTF bytes built by hand: `add` a type, `string` a name.
    #[derive(Default)]
    pub struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        pub fn new() -> Self {
            Self {
                strings: vec![0],
                next_id: 1,
                ..Self::default()
            }
        }
        pub fn string(&mut self, s: &str) -> u32 {
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }
        /// A type: kind, name, vlen, kind_flag, size/type, then its extra words.
        pub fn add(&mut self, kind: u32, name: &str, size: u32, flag: bool, words: &[u32]) -> u32 {
            let name = if name.is_empty() {
                0
            } else {
                self.string(name)
            };
            let vlen = match kind {
                4 | 5 | 15 | 19 => words.len() / 3,
                6 | 13 => words.len() / 2,
                _ => 0,
            } as u32;
            let info = (kind << 24) | vlen | (u32::from(flag) << 31);
            for w in [name, info, size].iter().chain(words) {
                self.types.extend_from_slice(&w.to_ne_bytes());
            }
            self.next_id += 1;
            self.next_id - 1
        }
        /// A struct (or union with `kind` 5) of named members: (name, type, bit offset).
        pub fn record(
            &mut self,
            kind: u32,
            name: &str,
            size: u32,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let mut words = Vec::new();
            for (n, ty, off) in members {
                let n = if n.is_empty() { 0 } else { self.string(n) };
                words.extend([n, *ty, *off]);
            }
            self.add(kind, name, size, false, &words)
        }
        pub fn bytes(&self) -> Vec<u8> {
            let mut b = Vec::new();
            b.extend_from_slice(&MAGIC.to_ne_bytes());
            b.extend([1, 0]);
            let tl = self.types.len() as u32;
            let sl = self.strings.len() as u32;
            for w in [HEADER_LEN as u32, 0, tl, tl, sl] {
                b.extend_from_slice(&w.to_ne_bytes());
            }
            b.extend_from_slice(&self.types);
            b.extend_from_slice(&self.strings);
            b
        }
    }

    /// `struct outer { int a; union { int b; struct { int c; int d; }; }; }`,
    /// a forward declaration of `outer` first, and a typedef'd anonymous
    /// member, like the kernel's.
    fn sample() -> Vec<u8> {
        let mut b = Builder::new();
        let int = b.add(1, "int", 4, false, &[32]);
        b.add(7, "outer", 0, false, &[]);
        let cd = b.record(KIND_STRUCT, "", 8, &[("c", int, 0), ("d", int, 32)]);
        let td = b.add(KIND_CONST, "", cd, false, &[]);
        let u = b.record(KIND_UNION, "", 8, &[("b", int, 0), ("", td, 0)]);
        b.record(KIND_STRUCT, "outer", 12, &[("a", int, 0), ("", u, 32)]);
        b.bytes()
    }

    #[test]
    fn members_are_found_through_anonymous_unions_and_qualifiers() {
        let data = sample();
        let idx = Index::build(&data).unwrap();
        assert_eq!(idx.len(), 6);
        let outer = idx
            .struct_named(&data, "outer")
            .unwrap()
            .expect("the struct, not the fwd");
        assert_eq!(outer.size(), 12);
        let off = |m| idx.member_bit_offset(&data, &outer, m).unwrap();
        assert_eq!(off("a"), Some(0));
        assert_eq!(off("b"), Some(32));
        assert_eq!(off("c"), Some(32));
        assert_eq!(off("d"), Some(64));
        assert_eq!(off("e"), None);
        assert!(idx.struct_named(&data, "inner").unwrap().is_none());
    }

    #[test]
    fn bitfield_offsets_drop_their_size_byte() {
        let mut b = Builder::new();
        let int = b.add(1, "int", 4, false, &[32]);
        let f = b.string("f");
        // kind_flag: offset 40 bits, bitfield size 3 in the top byte.
        b.add(KIND_STRUCT, "bits", 8, true, &[f, int, (3 << 24) | 40]);
        let data = b.bytes();
        let idx = Index::build(&data).unwrap();
        let s = idx.struct_named(&data, "bits").unwrap().unwrap();
        assert_eq!(idx.member_bit_offset(&data, &s, "f").unwrap(), Some(40));
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let data = sample();
        for n in 0..data.len() {
            // Cut anywhere: the header's lengths then point past the end.
            assert!(Index::build(&data[..n]).is_err(), "cut at {n}");
        }
        let mut other = data.clone();
        other.swap(0, 1);
        assert_eq!(Index::build(&other).err(), Some(RawError::ByteOrder));
        // Flip every byte in turn: errors or answers, never a panic.
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0xff;
            if let Ok(idx) = Index::build(&d)
                && let Ok(Some(t)) = idx.struct_named(&d, "outer")
            {
                let _ = idx.member_bit_offset(&d, &t, "d");
            }
        }
    }

    #[test]
    fn a_self_referencing_typedef_is_caught() {
        let mut b = Builder::new();
        // Type 1: a typedef of itself, as an anonymous member's type.
        b.add(KIND_TYPEDEF, "", 1, false, &[]);
        b.record(KIND_STRUCT, "s", 4, &[("", 1, 0)]);
        let data = b.bytes();
        let idx = Index::build(&data).unwrap();
        let s = idx.struct_named(&data, "s").unwrap().unwrap();
        assert_eq!(idx.member_bit_offset(&data, &s, "x"), Err(RawError::Depth));
    }
}
