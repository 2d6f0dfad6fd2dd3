//! Where a live stream stands: the checkpointed version of every partition
//! it has seen. A stream's `Last-Event-ID` carries it, so a client that
//! reconnects (to this API instance or another) resumes exactly there.

use std::collections::BTreeMap;

use crate::read::VersionRange;

/// The longest encoded cursor accepted (about 400 partitions).
const MAX_ENCODED: usize = 16 * 1024;

/// `text` if it is 1 to `max` ASCII digits.
fn digits(text: &str, max: usize) -> Option<&str> {
    (!text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_digit()))
        .then_some(text)
}

/// Partition → checkpointed version; a partition not named is at 0
/// (nothing of it seen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(BTreeMap<i32, u64>);

impl Cursor {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (i32, u64)>) -> Self {
        Cursor(pairs.into_iter().collect())
    }

    /// The version seen of a partition.
    pub fn get(&self, partition: i32) -> u64 {
        self.0.get(&partition).copied().unwrap_or(0)
    }

    /// Whether a row of this partition and version was already seen.
    pub fn covers(&self, partition: i32, version: u64) -> bool {
        version <= self.get(partition)
    }

    /// Whether everything `other` names is seen.
    pub fn covers_all(&self, other: &Cursor) -> bool {
        other.0.iter().all(|(p, v)| self.covers(*p, *v))
    }

    /// The ranges `to` holds beyond this cursor: per partition where `to`
    /// is ahead, (ours, theirs].
    pub fn ranges_to(&self, to: &Cursor) -> Vec<VersionRange> {
        to.0.iter()
            .filter(|(p, v)| **v > self.get(**p))
            .map(|(p, v)| VersionRange {
                partition: *p,
                after: self.get(*p),
                upto: *v,
            })
            .collect()
    }

    /// Take the greater version of each partition.
    pub fn advance(&mut self, to: &Cursor) {
        for (p, v) in &to.0 {
            let have = self.0.entry(*p).or_insert(0);
            *have = (*have).max(*v);
        }
    }

    /// `partition=version` pairs joined by commas (what a `Last-Event-ID`
    /// holds).
    pub fn encode(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(p, v)| format!("{p}={v}")).collect();
        pairs.join(",")
    }

    /// The cursor of [`Cursor::encode`]; the error says what is wrong.
    pub fn decode(text: &str) -> Result<Cursor, String> {
        if text.len() > MAX_ENCODED {
            return Err(format!("longer than {MAX_ENCODED} characters"));
        }
        let mut map = BTreeMap::new();
        if text.is_empty() {
            return Ok(Cursor(map));
        }
        for pair in text.split(',') {
            let (p, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not partition=version"))?;
            let p: i32 = digits(p, 9)
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("{p:?} is not a partition number (1 to 9 digits)"))?;
            let v: u64 = digits(v, 19)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{v:?} is not a version (1 to 19 digits)"))?;
            // Named twice (not what this server sends): the greater holds.
            let have = map.entry(p).or_insert(v);
            *have = (*have).max(v);
        }
        Ok(Cursor(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor::from_pairs([(0, 5), (3, i64::MAX as u64), (1, 0)]);
        assert_eq!(c.encode(), format!("0=5,1=0,3={}", i64::MAX));
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert_eq!(Cursor::decode("").unwrap(), Cursor::default());
        assert_eq!(
            Cursor::decode("1=2,1=7,01=3").unwrap(),
            Cursor::from_pairs([(1, 7)])
        );
        for bad in [
            "x",
            "0=",
            "=1",
            "-1=3",
            "0=1;1=2",
            "0=-4",
            "0=1,",
            "+1=2",
            "1=+2",
            "1234567890=1",
            "1=12345678901234567890",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?}");
        }
        assert!(Cursor::decode(&"0=1,".repeat(5000)).is_err());
    }

    #[test]
    fn ranges_cover_what_the_later_cursor_adds() {
        let from = Cursor::from_pairs([(0, 10), (1, 20)]);
        let to = Cursor::from_pairs([(0, 10), (1, 25), (2, 7)]);
        assert_eq!(
            from.ranges_to(&to),
            vec![
                VersionRange {
                    partition: 1,
                    after: 20,
                    upto: 25
                },
                VersionRange {
                    partition: 2,
                    after: 0,
                    upto: 7
                },
            ]
        );
        // A cursor ahead (another instance's) asks for nothing.
        assert!(to.ranges_to(&from).is_empty());
        let mut c = from.clone();
        c.advance(&to);
        assert_eq!(c, Cursor::from_pairs([(0, 10), (1, 25), (2, 7)]));
        assert!(c.covers_all(&from) && c.covers_all(&to) && !from.covers_all(&to));
        assert!(c.covers(2, 7) && !c.covers(2, 8) && !c.covers(9, 1));
    }
}
