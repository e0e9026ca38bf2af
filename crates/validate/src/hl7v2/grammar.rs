//! A message structure as an automaton over segment names, so segments are matched the way the
//! standard's abstract message syntax reads: groups in order, `[ ]` optional, `{ }` repeating,
//! `< | >` a choice. The earlier hand tables looked one segment back and raised false alarms on
//! valid repeating groups (two ORC/OBR orders, IN1/IN2 pairs); a regular language has none.
//!
//! The structure is compiled once into a nondeterministic automaton (Thompson construction), and
//! each state's successors are kept with their epsilon closures as bit sets, so matching costs
//! one pass over the segments with a few word operations each: linear in the message's size.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock, RwLock};

use super::defs::{Definitions, Element};

/// The segment a state consumes.
#[derive(Debug, Clone)]
enum Consumes {
    Nothing,
    Segment(u16),
    /// hl7apy's `ANYHL7SEGMENT`: any one segment.
    Any,
}

#[derive(Debug, Clone)]
struct State {
    consumes: Consumes,
    /// Where the segment sits: `PATIENT_RESULT.ORDER_OBSERVATION`.
    group: Arc<str>,
    /// Epsilon or consuming successors.
    next: Vec<usize>,
}

#[derive(Debug)]
pub struct Grammar {
    states: Vec<State>,
    names: Vec<String>,
    index: HashMap<String, u16>,
    /// After consuming at state `s`: the closure of its successors.
    after: Vec<Bits>,
    /// States consuming each name (by name index), and the wildcard states.
    by_name: Vec<Bits>,
    any: Bits,
    start: Bits,
    accept: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn or(&mut self, o: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, bits)| {
            let mut b = *bits;
            std::iter::from_fn(move || {
                (b != 0).then(|| {
                    let t = b.trailing_zeros() as usize;
                    b &= b - 1;
                    w * 64 + t
                })
            })
        })
    }
    fn and_any(&self, o: &Bits) -> bool {
        self.0.iter().zip(&o.0).any(|(a, b)| a & b != 0)
    }
}

struct Builder {
    states: Vec<State>,
    names: Vec<String>,
    index: HashMap<String, u16>,
}

impl Builder {
    fn state(&mut self, consumes: Consumes, group: &Arc<str>) -> usize {
        self.states.push(State {
            consumes,
            group: group.clone(),
            next: Vec::new(),
        });
        self.states.len() - 1
    }

    fn link(&mut self, from: usize, to: usize) {
        self.states[from].next.push(to);
    }

    fn name(&mut self, n: &str) -> u16 {
        if let Some(i) = self.index.get(n) {
            return *i;
        }
        let i = self.names.len() as u16;
        self.names.push(n.to_string());
        self.index.insert(n.to_string(), i);
        i
    }

    /// A fragment (entry, exit) for `elements` in sequence.
    fn sequence(&mut self, elements: &[Element], group: &Arc<str>) -> (usize, usize) {
        let entry = self.state(Consumes::Nothing, group);
        let mut at = entry;
        for e in elements {
            let (s, x) = self.element(e, group);
            self.link(at, s);
            at = x;
        }
        (entry, at)
    }

    fn element(&mut self, e: &Element, group: &Arc<str>) -> (usize, usize) {
        let (min, max, (s, x)) = match e {
            Element::Segment { name, min, max } => {
                let consumes = if name == "ANYHL7SEGMENT" {
                    Consumes::Any
                } else {
                    Consumes::Segment(self.name(name))
                };
                let s = self.state(consumes, group);
                let x = self.state(Consumes::Nothing, group);
                self.link(s, x);
                (*min, *max, (s, x))
            }
            Element::Group {
                name,
                min,
                max,
                choice,
                children,
            } => {
                let inner: Arc<str> = if group.is_empty() {
                    Arc::from(name.as_str())
                } else {
                    Arc::from(format!("{group}.{name}"))
                };
                let frag = if *choice {
                    let entry = self.state(Consumes::Nothing, &inner);
                    let exit = self.state(Consumes::Nothing, &inner);
                    for c in children {
                        let (s, x) = self.element(c, &inner);
                        self.link(entry, s);
                        self.link(x, exit);
                    }
                    (entry, exit)
                } else {
                    self.sequence(children, &inner)
                };
                (*min, *max, frag)
            }
        };
        // Repetition: more than one allowed loops back; none required skips. A finite maximum
        // above one is rare in the standard and read as "repeats" (never a false alarm).
        let entry = self.state(Consumes::Nothing, group);
        let exit = self.state(Consumes::Nothing, group);
        self.link(entry, s);
        self.link(x, exit);
        if max != Some(1) && max != Some(0) {
            self.link(x, s);
        }
        if min == 0 {
            self.link(entry, exit);
        }
        (entry, exit)
    }
}

impl Grammar {
    pub fn compile(structure: &[Element]) -> Grammar {
        let mut b = Builder {
            states: Vec::new(),
            names: Vec::new(),
            index: HashMap::new(),
        };
        let root: Arc<str> = Arc::from("");
        let (start, accept) = b.sequence(structure, &root);
        let n = b.states.len();
        let closure: Vec<Bits> = (0..n).map(|s| eps_closure(&b.states, s, n)).collect();
        let mut after = Vec::with_capacity(n);
        for s in 0..n {
            let mut bits = Bits::new(n);
            if !matches!(b.states[s].consumes, Consumes::Nothing) {
                for &t in &b.states[s].next {
                    bits.or(&closure[t]);
                }
            }
            after.push(bits);
        }
        let mut by_name = vec![Bits::new(n); b.names.len()];
        let mut any = Bits::new(n);
        for (i, st) in b.states.iter().enumerate() {
            match st.consumes {
                Consumes::Segment(k) => by_name[k as usize].set(i),
                Consumes::Any => any.set(i),
                Consumes::Nothing => {}
            }
        }
        Grammar {
            start: closure[start].clone(),
            states: b.states,
            names: b.names,
            index: b.index,
            after,
            by_name,
            any,
            accept,
        }
    }

    /// Whether `name` appears anywhere in the structure.
    pub fn knows(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The names that may come next from `set`, in structure order.
    fn expected(&self, set: &Bits) -> Vec<&str> {
        let mut seen = Vec::new();
        for s in set.ones() {
            if let Consumes::Segment(k) = self.states[s].consumes {
                let n = self.names[k as usize].as_str();
                if !seen.contains(&n) {
                    seen.push(n);
                }
            }
        }
        seen
    }

    /// The segments on the shortest way from `set` to the end: what a message that stops here
    /// still owes, each with its group.
    fn owed(&self, set: &Bits) -> Vec<(String, Arc<str>)> {
        let n = self.states.len();
        let mut prev: Vec<Option<usize>> = vec![None; n];
        let mut seen = Bits::new(n);
        let mut queue: VecDeque<usize> = set.ones().collect();
        for s in set.ones() {
            seen.set(s);
        }
        // 0-1 BFS: epsilon moves cost nothing and go to the front.
        while let Some(s) = queue.pop_front() {
            if s == self.accept {
                let mut path = Vec::new();
                let mut at = s;
                while let Some(p) = prev[at] {
                    if let Consumes::Segment(k) = self.states[p].consumes {
                        path.push((self.names[k as usize].clone(), self.states[p].group.clone()));
                    }
                    at = p;
                }
                path.reverse();
                return path;
            }
            let consuming = !matches!(self.states[s].consumes, Consumes::Nothing);
            for &t in &self.states[s].next {
                if !seen.has(t) {
                    seen.set(t);
                    prev[t] = Some(s);
                    if consuming {
                        queue.push_back(t);
                    } else {
                        queue.push_front(t);
                    }
                }
            }
        }
        Vec::new()
    }

    /// Matches `segments` (names; Z-segments already removed by the caller's choice) and says
    /// where each one landed, and every place the message leaves the structure.
    pub fn run<'a>(&self, segments: impl Iterator<Item = &'a str>) -> Matched {
        let names: Vec<&str> = segments.collect();
        let mut set = self.start.clone();
        let mut out = Matched::default();
        for (i, name) in names.iter().enumerate() {
            let next = self.step(&set, name);
            if next.is_empty() {
                let consumers = self.index.get(*name).map(|k| &self.by_name[*k as usize]);
                let expected = self.expected(&set);
                out.problems.push(Problem::NotHere {
                    index: i,
                    expected: expected.iter().take(8).map(|s| s.to_string()).collect(),
                    known: consumers.is_some(),
                });
                out.groups.push(None);
                // Recover so one misplaced segment gives one finding: skip it when what follows
                // fits where we were, else resume where the segment can stand.
                let follows = names
                    .get(i + 1)
                    .is_none_or(|n| !self.step(&set, n).is_empty());
                if !follows {
                    if let Some(c) = consumers {
                        let mut resync = Bits::new(self.states.len());
                        for s in c.ones() {
                            resync.or(&self.after[s]);
                        }
                        set = resync;
                    }
                }
                continue;
            }
            out.groups.push(self.group_of(&set, name));
            set = next;
        }
        if !set.has(self.accept) {
            out.problems.push(Problem::Ends {
                owed: self.owed(&set),
            });
        }
        out
    }

    /// The states after consuming `name` from `set` (empty: it cannot come next).
    fn step(&self, set: &Bits, name: &str) -> Bits {
        let mut next = Bits::new(self.states.len());
        let consumers = self.index.get(name).map(|k| &self.by_name[*k as usize]);
        for s in set.ones() {
            if consumers.is_some_and(|c| c.has(s)) || self.any.has(s) {
                next.or(&self.after[s]);
            }
        }
        next
    }

    /// The group of the state in `set` that consumes `name`.
    fn group_of(&self, set: &Bits, name: &str) -> Option<Arc<str>> {
        let consumers = self.index.get(name).map(|k| &self.by_name[*k as usize]);
        let s = match consumers {
            Some(c) if set.and_any(c) => set.ones().find(|s| c.has(*s))?,
            _ => set.ones().find(|s| self.any.has(*s))?,
        };
        Some(self.states[s].group.clone())
    }
}

fn eps_closure(states: &[State], from: usize, n: usize) -> Bits {
    let mut bits = Bits::new(n);
    let mut stack = vec![from];
    bits.set(from);
    while let Some(s) = stack.pop() {
        if !matches!(states[s].consumes, Consumes::Nothing) {
            continue;
        }
        for &t in &states[s].next {
            if !bits.has(t) {
                bits.set(t);
                stack.push(t);
            }
        }
    }
    bits
}

/// The outcome of matching: each segment's group (None where it did not fit), and the problems.
#[derive(Debug, Default)]
pub struct Matched {
    pub groups: Vec<Option<Arc<str>>>,
    pub problems: Vec<Problem>,
}

#[derive(Debug)]
pub enum Problem {
    /// Segment `index` (of those matched) cannot stand here; these could.
    NotHere {
        index: usize,
        expected: Vec<String>,
        /// The segment appears elsewhere in the structure (out of order, or too many).
        known: bool,
    },
    /// The message ends owing these segments.
    Ends { owed: Vec<(String, Arc<str>)> },
}

/// The compiled grammar of a structure, compiled on first use and kept.
pub fn grammar(defs: &'static Definitions, structure: &str) -> Option<Arc<Grammar>> {
    type Cache = RwLock<HashMap<(String, String), Arc<Grammar>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (defs.version.clone(), structure.to_string());
    if let Some(g) = cache.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Some(g.clone());
    }
    let g = Arc::new(Grammar::compile(defs.structures.get(structure)?));
    cache
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, g.clone());
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: &str, min: u32, max: Option<u32>) -> Element {
        Element::Segment {
            name: n.into(),
            min,
            max,
        }
    }

    fn group(n: &str, min: u32, max: Option<u32>, children: Vec<Element>) -> Element {
        Element::Group {
            name: n.into(),
            min,
            max,
            choice: false,
            children,
        }
    }

    /// MSH [PID] { [ORC] OBR [{NTE}] [{ OBX [{NTE}] }] }
    fn oru() -> Grammar {
        Grammar::compile(&[
            seg("MSH", 1, Some(1)),
            seg("PID", 0, Some(1)),
            group(
                "ORDER",
                1,
                None,
                vec![
                    seg("ORC", 0, Some(1)),
                    seg("OBR", 1, Some(1)),
                    seg("NTE", 0, None),
                    group(
                        "OBSERVATION",
                        0,
                        None,
                        vec![seg("OBX", 1, Some(1)), seg("NTE", 0, None)],
                    ),
                ],
            ),
        ])
    }

    fn problems(g: &Grammar, msg: &str) -> Vec<String> {
        g.run(msg.split(' '))
            .problems
            .iter()
            .map(|p| format!("{p:?}"))
            .collect()
    }

    #[test]
    fn repeating_groups_never_false_alarm() {
        let g = oru();
        for ok in [
            "MSH OBR",
            "MSH PID ORC OBR NTE OBX NTE NTE OBX ORC OBR OBX",
            "MSH OBR OBR OBR",
            "MSH PID OBR NTE NTE OBX OBX NTE",
        ] {
            assert!(problems(&g, ok).is_empty(), "{ok}: {:?}", problems(&g, ok));
        }
        let m = g.run("MSH PID ORC OBR OBX NTE".split(' '));
        assert_eq!(m.groups[4].as_deref(), Some("ORDER.OBSERVATION"));
        assert_eq!(m.groups[3].as_deref(), Some("ORDER"));
    }

    #[test]
    fn misplaced_missing_and_foreign_segments_are_found() {
        let g = oru();
        let p = problems(&g, "MSH OBR PID OBX");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("index: 2") && p[0].contains("known: true"),
            "{p:?}"
        );
        let p = problems(&g, "MSH PID");
        assert!(p[0].contains("Ends") && p[0].contains("OBR"), "{p:?}");
        // OBX where its OBR should have come first: found at the OBX, the OBR named.
        let p = problems(&g, "MSH PID OBX");
        assert!(p[0].contains("index: 2") && p[0].contains("OBR"), "{p:?}");
        let p = problems(&g, "MSH EVN OBR");
        assert!(p[0].contains("known: false"), "{p:?}");
        let p = problems(&g, "MSH MSH OBR");
        assert!(p[0].contains("index: 1"), "{p:?}");
    }
}
