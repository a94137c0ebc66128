//! Paging of list calls, with APIG's clamping: `offset` defaults to 0 and a negative one is 0;
//! `limit` defaults to 20, a non-positive one is 20, and one above 500 is 500.

/// A clamped page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items to skip.
    pub offset: u64,
    /// Items to return, 1..=500.
    pub limit: u64,
}

impl Page {
    pub const MAX_LIMIT: i64 = 500;
    pub const DEFAULT_LIMIT: i64 = 20;

    pub fn new(offset: Option<i64>, limit: Option<i64>) -> Self {
        let offset = offset.unwrap_or(0).max(0) as u64;
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(l) if l <= 0 => Self::DEFAULT_LIMIT,
            Some(l) => l.min(Self::MAX_LIMIT),
        } as u64;
        Self { offset, limit }
    }

    /// The slice of `items` this page covers.
    pub fn slice<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset as usize)
            .take(self.limit as usize)
            .collect()
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_offset_and_limit_like_apig() {
        assert_eq!(
            Page::new(None, None),
            Page {
                offset: 0,
                limit: 20
            }
        );
        assert_eq!(
            Page::new(Some(-5), Some(0)),
            Page {
                offset: 0,
                limit: 20
            }
        );
        assert_eq!(
            Page::new(Some(3), Some(-1)),
            Page {
                offset: 3,
                limit: 20
            }
        );
        assert_eq!(
            Page::new(Some(3), Some(501)),
            Page {
                offset: 3,
                limit: 500
            }
        );
        assert_eq!(
            Page::new(Some(3), Some(7)),
            Page {
                offset: 3,
                limit: 7
            }
        );
    }
}
