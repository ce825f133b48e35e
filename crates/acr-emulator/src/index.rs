//! A repository's tags and manifests, kept in every order a listing can ask for.
//!
//! Each collection is a map by name plus a set of `(last update, name)` pairs, and tags
//! also know which names point at each digest. A page then starts with one range lookup
//! instead of a scan of the whole repository: listing a repository of n tags page by page
//! costs O(n log n) in all, not O(n²).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Unbounded};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::store::{Attributes, ManifestMeta, TagMeta};

/// The order of a listing. Name order is byte-wise, as the distribution spec asks; the
/// time orders use the last-update time, ties broken by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    Name,
    TimeAsc,
    TimeDesc,
}

/// An entry that can be listed by its last-update time.
pub(crate) trait Stamped {
    fn updated(&self) -> DateTime<Utc>;
    fn attributes_mut(&mut self) -> &mut Attributes;
}

impl Stamped for TagMeta {
    fn updated(&self) -> DateTime<Utc> {
        self.updated
    }
    fn attributes_mut(&mut self) -> &mut Attributes {
        &mut self.attributes
    }
}

impl Stamped for ManifestMeta {
    fn updated(&self) -> DateTime<Utc> {
        self.updated
    }
    fn attributes_mut(&mut self) -> &mut Attributes {
        &mut self.attributes
    }
}

/// Entries of a map after `last` (all of them without one), in key order.
pub(crate) fn after<'a, V>(
    map: &'a BTreeMap<String, V>,
    last: Option<&str>,
) -> std::collections::btree_map::Range<'a, String, V> {
    match last {
        Some(last) => map.range::<str, _>((Excluded(last), Unbounded)),
        None => map.range::<str, _>((Unbounded, Unbounded)),
    }
}

type Page<'a, T> = Box<dyn Iterator<Item = (&'a String, &'a T)> + 'a>;

/// Entries by name and by `(updated, name)`. Changes go through methods that keep both in
/// step, which is why the maps are not public.
#[derive(Clone, Debug)]
pub(crate) struct Timeline<T> {
    by_name: BTreeMap<String, T>,
    by_time: BTreeSet<(DateTime<Utc>, String)>,
}

impl<T> Default for Timeline<T> {
    fn default() -> Self {
        Timeline {
            by_name: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }
}

impl<T: Stamped> Timeline<T> {
    pub(crate) fn get(&self, name: &str) -> Option<&T> {
        self.by_name.get(name)
    }

    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.by_name.keys()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.by_name.iter()
    }

    /// The entry's attributes, which no index depends on.
    pub(crate) fn attributes_mut(&mut self, name: &str) -> Option<&mut Attributes> {
        self.by_name.get_mut(name).map(Stamped::attributes_mut)
    }

    /// Inserts or replaces an entry.
    pub(crate) fn insert(&mut self, name: &str, value: T) {
        if let Some(old) = self.by_name.get(name) {
            self.by_time.remove(&(old.updated(), name.to_string()));
        }
        self.by_time.insert((value.updated(), name.to_string()));
        self.by_name.insert(name.to_string(), value);
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<T> {
        let old = self.by_name.remove(name)?;
        self.by_time.remove(&(old.updated(), name.to_string()));
        Some(old)
    }

    /// The entries that follow `last` in `order`. By name, `last` need not exist (the
    /// distribution spec's `last` is a value, not a position); by time, the page
    /// continues after the entry named `last`, and there is nothing after one that
    /// does not exist.
    pub(crate) fn after(&self, order: Order, last: Option<&str>) -> Page<'_, T> {
        if order == Order::Name {
            return Box::new(after(&self.by_name, last));
        }
        let entry = |(_, name): &(DateTime<Utc>, String)| self.by_name.get_key_value(name.as_str());
        let from = match last {
            None => None,
            Some(last) => match self.by_name.get(last) {
                Some(v) => Some((v.updated(), last.to_string())),
                None => return Box::new(std::iter::empty()),
            },
        };
        match (order, from) {
            (Order::TimeDesc, Some(from)) => {
                Box::new(self.by_time.range(..from).rev().filter_map(entry))
            }
            (Order::TimeDesc, None) => Box::new(self.by_time.iter().rev().filter_map(entry)),
            (_, Some(from)) => Box::new(
                self.by_time
                    .range((Excluded(from), Unbounded))
                    .filter_map(entry),
            ),
            (_, None) => Box::new(self.by_time.iter().filter_map(entry)),
        }
    }
}

impl<T: Serialize> Serialize for Timeline<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.by_name.serialize(serializer)
    }
}

impl<'de, T: Stamped + Deserialize<'de>> Deserialize<'de> for Timeline<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let by_name = BTreeMap::<String, T>::deserialize(deserializer)?;
        let by_time = by_name
            .iter()
            .map(|(name, v)| (v.updated(), name.clone()))
            .collect();
        Ok(Timeline { by_name, by_time })
    }
}

/// A repository's tags, with the names pointing at each digest.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tags {
    entries: Timeline<TagMeta>,
    by_digest: HashMap<String, BTreeSet<String>>,
}

impl Tags {
    pub(crate) fn get(&self, name: &str) -> Option<&TagMeta> {
        self.entries.get(name)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    pub(crate) fn attributes_mut(&mut self, name: &str) -> Option<&mut Attributes> {
        self.entries.attributes_mut(name)
    }

    /// Points `name` at `digest`: a new tag, or an existing one moved (its creation time
    /// and attributes kept).
    pub(crate) fn point(&mut self, name: &str, digest: &str, now: DateTime<Utc>) {
        let tag = match self.entries.get(name).cloned() {
            Some(old) => {
                self.unlink(&old.digest, name);
                TagMeta {
                    digest: digest.to_string(),
                    updated: now,
                    ..old
                }
            }
            None => TagMeta {
                digest: digest.to_string(),
                created: now,
                updated: now,
                attributes: Attributes::default(),
            },
        };
        self.entries.insert(name, tag);
        self.by_digest
            .entry(digest.to_string())
            .or_default()
            .insert(name.to_string());
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<TagMeta> {
        let old = self.entries.remove(name)?;
        self.unlink(&old.digest, name);
        Some(old)
    }

    /// Removes every tag pointing at `digest`.
    pub(crate) fn remove_pointing_at(&mut self, digest: &str) {
        for name in self.by_digest.remove(digest).unwrap_or_default() {
            self.entries.remove(&name);
        }
    }

    /// The tags pointing at `digest`, in name order.
    pub(crate) fn pointing_at(&self, digest: &str) -> Vec<String> {
        self.by_digest
            .get(digest)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The tags that follow `last` in `order` (see [`Timeline::after`]), only those
    /// pointing at `digest` when one is given. With a digest, a time-ordered page sorts
    /// that digest's tags, usually a handful.
    pub(crate) fn after(
        &self,
        order: Order,
        last: Option<&str>,
        digest: Option<&str>,
    ) -> Page<'_, TagMeta> {
        let Some(digest) = digest else {
            return self.entries.after(order, last);
        };
        let Some(names) = self.by_digest.get(digest) else {
            return Box::new(std::iter::empty());
        };
        let entry = |name: &String| self.entries.by_name.get_key_value(name.as_str());
        if order == Order::Name {
            return Box::new(
                names
                    .range::<str, _>((last.map_or(Unbounded, Excluded), Unbounded))
                    .filter_map(entry),
            );
        }
        let from = match last {
            None => None,
            Some(last) => match self.entries.get(last) {
                Some(t) => Some((t.updated, last)),
                None => return Box::new(std::iter::empty()),
            },
        };
        let mut listed: Vec<(DateTime<Utc>, &String)> = names
            .iter()
            .filter_map(|n| self.entries.get(n).map(|t| (t.updated, n)))
            .collect();
        listed.sort();
        if order == Order::TimeDesc {
            listed.reverse();
        }
        let start = match from {
            None => 0,
            Some((time, name)) => listed
                .iter()
                .position(|&(t, n)| {
                    let key = (t, n.as_str());
                    match order {
                        Order::TimeDesc => key < (time, name),
                        _ => key > (time, name),
                    }
                })
                .unwrap_or(listed.len()),
        };
        Box::new(
            listed
                .into_iter()
                .skip(start)
                .filter_map(move |(_, n)| entry(n)),
        )
    }

    fn unlink(&mut self, digest: &str, name: &str) {
        if let Some(names) = self.by_digest.get_mut(digest) {
            names.remove(name);
            if names.is_empty() {
                self.by_digest.remove(digest);
            }
        }
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Timeline::<TagMeta>::deserialize(deserializer)?;
        let mut by_digest: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (name, tag) in &entries.by_name {
            by_digest
                .entry(tag.digest.clone())
                .or_default()
                .insert(name.clone());
        }
        Ok(Tags { entries, by_digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(second, 0).expect("valid time")
    }

    /// Tags `a`..`e` created at times that do not follow their names, over two digests.
    fn tags() -> Tags {
        let mut tags = Tags::default();
        for (name, digest, second) in [
            ("c", "d1", 1),
            ("a", "d2", 2),
            ("e", "d1", 3),
            ("b", "d1", 4),
            ("d", "d2", 5),
        ] {
            tags.point(name, digest, at(second));
        }
        tags
    }

    fn names(page: Page<'_, TagMeta>) -> Vec<&str> {
        page.map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn every_order_continues_after_last() {
        let tags = tags();
        assert_eq!(
            names(tags.after(Order::Name, None, None)),
            ["a", "b", "c", "d", "e"]
        );
        // By name `last` is a value: a name that is not a tag still places the page.
        assert_eq!(
            names(tags.after(Order::Name, Some("bb"), None)),
            ["c", "d", "e"]
        );
        assert_eq!(
            names(tags.after(Order::TimeAsc, None, None)),
            ["c", "a", "e", "b", "d"]
        );
        assert_eq!(
            names(tags.after(Order::TimeAsc, Some("e"), None)),
            ["b", "d"]
        );
        assert_eq!(
            names(tags.after(Order::TimeDesc, None, None)),
            ["d", "b", "e", "a", "c"]
        );
        assert_eq!(
            names(tags.after(Order::TimeDesc, Some("e"), None)),
            ["a", "c"]
        );
        // By time there is no position after a tag that does not exist.
        assert!(names(tags.after(Order::TimeAsc, Some("zz"), None)).is_empty());
    }

    #[test]
    fn digest_filter_keeps_each_order() {
        let tags = tags();
        let d1 = Some("d1");
        assert_eq!(names(tags.after(Order::Name, None, d1)), ["b", "c", "e"]);
        assert_eq!(names(tags.after(Order::Name, Some("b"), d1)), ["c", "e"]);
        assert_eq!(names(tags.after(Order::TimeAsc, None, d1)), ["c", "e", "b"]);
        assert_eq!(names(tags.after(Order::TimeAsc, Some("c"), d1)), ["e", "b"]);
        assert_eq!(
            names(tags.after(Order::TimeDesc, Some("b"), d1)),
            ["e", "c"]
        );
        // `last` pointing at another digest still marks a place in time.
        assert_eq!(names(tags.after(Order::TimeAsc, Some("a"), d1)), ["e", "b"]);
        assert!(names(tags.after(Order::Name, None, Some("d3"))).is_empty());
    }

    #[test]
    fn moving_and_removing_tags_keeps_the_indexes_in_step() {
        let mut tags = tags();
        let created = tags.get("c").expect("c").created;
        tags.point("c", "d2", at(9));
        let moved = tags.get("c").expect("c");
        assert_eq!((moved.digest.as_str(), moved.created), ("d2", created));
        assert_eq!(tags.pointing_at("d1"), ["b", "e"]);
        assert_eq!(tags.pointing_at("d2"), ["a", "c", "d"]);
        assert_eq!(names(tags.after(Order::TimeDesc, None, None))[0], "c");

        tags.remove_pointing_at("d2");
        assert_eq!(tags.len(), 2);
        assert!(tags.pointing_at("d2").is_empty());
        assert_eq!(names(tags.after(Order::TimeAsc, None, None)), ["e", "b"]);
        assert!(tags.remove("e").is_some());
        assert_eq!(names(tags.after(Order::Name, None, Some("d1"))), ["b"]);
    }

    #[test]
    fn indexes_are_rebuilt_from_saved_state() {
        let saved = serde_json::to_value(tags()).expect("serialises");
        // Saved as a plain map by name, as state.json has always held it.
        assert_eq!(saved.as_object().map(|m| m.len()), Some(5));
        let loaded: Tags = serde_json::from_value(saved).expect("deserialises");
        assert_eq!(
            names(loaded.after(Order::TimeDesc, None, None)),
            ["d", "b", "e", "a", "c"]
        );
        assert_eq!(loaded.pointing_at("d2"), ["a", "d"]);
    }
}
