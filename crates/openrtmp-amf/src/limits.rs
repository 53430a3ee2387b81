//! Decoder limits, and the per-value budget that enforces them.

use crate::AmfError;

/// Default [`Limits::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Default [`Limits::max_elements`].
pub const DEFAULT_MAX_ELEMENTS: usize = 65_536;
/// Default [`Limits::max_string_len`]: 1 MiB.
pub const DEFAULT_MAX_STRING_LEN: usize = 1 << 20;

/// How much one top-level value may cost the decoder. Every limit is checked before the
/// memory it guards is allocated, so a peer cannot make the decoder allocate more than the
/// bounds below by declaring large lengths or counts.
///
/// Worst case, one decoded value holds about `max_elements` × 350 bytes: an element is at
/// most a 104-byte key/value slot (64-bit targets), doubled by vector growth, plus up to 63
/// bytes each of key and text that are not charged separately (see
/// [`Limits::max_elements`]). That is about 22 MiB with the defaults, plus at most
/// `max_depth` × 256 pre-allocated slots (1.7 MiB) for containers still being filled.
/// Real values are far smaller because their bytes must be in the input: AMF0 has no
/// references, and AMF3 references, the one way to expand the input, are charged in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// How deeply values may nest. A top-level value has depth 0, the members of a top-level
    /// object or array depth 1, and so on; a value deeper than this is rejected with
    /// [`AmfError::DepthExceeded`]. The decoders recurse once per level, so this also bounds
    /// their stack use. Default [`DEFAULT_MAX_DEPTH`] (64).
    pub max_depth: usize,
    /// The weight one top-level value may have, in elements. Every decoded value (object,
    /// array item, property value, AMF3 vector item, dictionary key, and the value an AMF3
    /// reference stands for, counted again each time it is referenced) costs one element,
    /// and every string, key, XML text or byte array costs one more element per full 64 bytes
    /// it holds. The byte charge is what stops an AMF3 reference bomb: a 1 MiB string sent
    /// once and referenced 60,000 times would otherwise expand a few kilobytes of input into
    /// gigabytes. Exceeding it fails with [`AmfError::TooManyElements`].
    /// Default [`DEFAULT_MAX_ELEMENTS`] (65,536).
    pub max_elements: usize,
    /// The longest string, long string, XML text, key or AMF3 byte array accepted, in bytes;
    /// checked against the declared length before any byte is read
    /// ([`AmfError::StringTooLong`]). Default [`DEFAULT_MAX_STRING_LEN`] (1 MiB).
    pub max_string_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Limits {
    /// The default limits, as a constant.
    pub const DEFAULT: Limits = Limits {
        max_depth: DEFAULT_MAX_DEPTH,
        max_elements: DEFAULT_MAX_ELEMENTS,
        max_string_len: DEFAULT_MAX_STRING_LEN,
    };
}

/// Bytes of text that one element pays for (see [`Limits::max_elements`]).
const BYTES_PER_ELEMENT: usize = 64;

/// The most items reserved up front for one container, whatever it declares. Containers
/// nest, and each could otherwise reserve the whole remaining budget before its first item
/// arrives; past this, vectors grow as items actually decode.
const MAX_PREALLOCATED_ITEMS: usize = 256;

/// The element budget of one top-level value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    used: usize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self { used: 0, limit: limits.max_elements }
    }

    /// Charges `n` elements for something found at `offset`.
    pub(crate) fn charge(&mut self, n: usize, offset: usize) -> Result<(), AmfError> {
        match self.used.checked_add(n) {
            Some(used) if used <= self.limit => {
                self.used = used;
                Ok(())
            }
            _ => Err(AmfError::TooManyElements { limit: self.limit, offset }),
        }
    }

    /// Charges one decoded value.
    pub(crate) fn value(&mut self, offset: usize) -> Result<(), AmfError> {
        self.charge(1, offset)
    }

    /// Charges the text of a string, key or byte array of `len` bytes.
    pub(crate) fn text(&mut self, len: usize, offset: usize) -> Result<(), AmfError> {
        self.charge(len / BYTES_PER_ELEMENT, offset)
    }

    /// How many items to pre-allocate for a container that declares `declared` items when
    /// `remaining` input bytes are left and each item takes at least `min_item_len` of them:
    /// never more than the input or the budget could supply, nor than
    /// [`MAX_PREALLOCATED_ITEMS`].
    pub(crate) fn capacity(&self, declared: usize, remaining: usize, min_item_len: usize) -> usize {
        let left = self.limit.saturating_sub(self.used);
        declared.min(remaining / min_item_len.max(1)).min(left).min(MAX_PREALLOCATED_ITEMS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_values_and_text() {
        let mut budget = Budget::new(&Limits { max_elements: 3, ..Limits::default() });
        assert_eq!(budget.text(63, 0), Ok(()));
        assert_eq!(budget.text(128, 1), Ok(()));
        assert_eq!(budget.value(2), Ok(()));
        assert_eq!(budget.value(3), Err(AmfError::TooManyElements { limit: 3, offset: 3 }));
        assert_eq!(
            budget.charge(usize::MAX, 4),
            Err(AmfError::TooManyElements { limit: 3, offset: 4 })
        );
    }

    #[test]
    fn capacity_is_bounded_by_input_budget_and_constant() {
        let budget = Budget::new(&Limits { max_elements: 100, ..Limits::default() });
        assert_eq!(budget.capacity(u32::MAX as usize, 3, 1), 3);
        assert_eq!(budget.capacity(u32::MAX as usize, 1000, 1), 100);
        assert_eq!(budget.capacity(5, 1000, 8), 5);
        assert_eq!(budget.capacity(500, 800, 8), 100);
        assert_eq!(budget.capacity(500, 80, 8), 10);
        let budget = Budget::new(&Limits::default());
        assert_eq!(budget.capacity(100_000, 1 << 20, 1), MAX_PREALLOCATED_ITEMS);
    }

    #[test]
    fn defaults() {
        let limits = Limits::default();
        assert_eq!(limits.max_depth, 64);
        assert_eq!(limits.max_elements, 65_536);
        assert_eq!(limits.max_string_len, 1_048_576);
    }
}
