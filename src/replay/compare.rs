//! Comparing what a replay observed with what the case expects, accepting
//! the allowed variations, and naming for each difference the
//! version-qualified statement involved (the receiver's version).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use super::case::{ExpectedDelivery, Line, Op, Source};
use super::real::{Observed, ObservedDelivery};
use super::Case;
use crate::codec::{filter_matches, Qos};
use crate::spec::{v3_1_1, v5, StatementId, Version};

/// One difference between the model's run and the server's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The step it concerns (for a message: where it was expected, else where it arrived).
    pub step: usize,
    /// The client it concerns.
    pub client: String,
    /// The statement involved, when one is.
    #[serde(serialize_with = "statement_text")]
    pub statement: Option<StatementId>,
    /// What the case expects.
    pub expected: String,
    /// What the server did.
    pub observed: String,
}

fn statement_text<S: Serializer>(statement: &Option<StatementId>, s: S) -> Result<S::Ok, S::Error> {
    match statement {
        Some(st) => s.serialize_str(&st.to_string()),
        None => s.serialize_none(),
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.statement.map_or_else(|| "no statement".to_owned(), |s| s.to_string());
        write!(f, "step {} {} [{st}] expected {}; observed {}", self.step, self.client, self.expected, self.observed)
    }
}

fn pick(version: Version, v3: StatementId, v5: StatementId) -> StatementId {
    match version {
        Version::V3_1_1 => v3,
        Version::V5 => v5,
    }
}

type Key = (String, String, bool);

fn describe_key(k: &Key) -> String {
    let payload: String = k.1.chars().take(40).collect();
    let more = if k.1.chars().count() > 40 { "..." } else { "" };
    format!("{} {:?}{more} (RETAIN {})", k.0, payload, u8::from(k.2))
}

/// Every difference between `case`'s expectations and `observed`, ordered
/// by step, then client.
pub fn compare(case: &Case, observed: &Observed) -> Vec<Difference> {
    let mut out = Vec::new();
    for p in &observed.problems {
        out.push(Difference {
            step: p.step,
            client: p.client.clone(),
            statement: p.statement,
            expected: p.expected.clone(),
            observed: p.observed.clone(),
        });
    }
    compare_acks(case, observed, &mut out);
    for c in &case.clients {
        let expected: Vec<&ExpectedDelivery> = case.deliveries.iter().filter(|d| d.client == c.name).collect();
        let seen: Vec<&ObservedDelivery> = observed.deliveries.iter().filter(|d| d.client == c.name).collect();
        compare_deliveries(case, c.version, &c.name, &expected, &seen, &mut out);
        compare_order(case, c.version, &c.name, &seen, &mut out);
    }
    out.sort_by(|a, b| (a.step, &a.client).cmp(&(b.step, &b.client)));
    out
}

fn compare_acks(case: &Case, observed: &Observed, out: &mut Vec<Difference>) {
    for line in &case.acks {
        let (step, client) = match line {
            Line::Connack { step, client, .. }
            | Line::Suback { step, client, .. }
            | Line::Unsuback { step, client, .. } => (*step, client),
            _ => continue,
        };
        let Some(c) = case.client(client) else { continue };
        let v = c.version;
        let same_kind = |o: &&Line| std::mem::discriminant(*o) == std::mem::discriminant(line);
        let got = observed.acks.iter().filter(same_kind).find(|o| match o {
            Line::Connack { step: s, client: n, .. }
            | Line::Suback { step: s, client: n, .. }
            | Line::Unsuback { step: s, client: n, .. } => *s == step && n == client,
            _ => false,
        });
        // A missing acknowledgement is already a problem of the replay.
        let Some(got) = got else { continue };
        let mut diff = |statement: StatementId, expected: String, observed: String| {
            out.push(Difference { step, client: client.clone(), statement: Some(statement), expected, observed });
        };
        match (line, got) {
            (
                Line::Connack { session_present: sp, reason_code: rc, .. },
                Line::Connack { session_present: osp, reason_code: orc, .. },
            ) => {
                if (*rc < 0x80) != (*orc < 0x80) {
                    diff(
                        pick(v, v3_1_1::MQTT_3_1_4_4, v5::MQTT_3_1_4_5),
                        format!("CONNACK code {rc:#04x}"),
                        format!("CONNACK code {orc:#04x}"),
                    );
                } else if sp != osp {
                    let st = match (c.clean_start, *sp) {
                        (true, _) => pick(v, v3_1_1::MQTT_3_2_2_1, v5::MQTT_3_2_2_2),
                        (false, true) => pick(v, v3_1_1::MQTT_3_2_2_2, v5::MQTT_3_2_2_3),
                        (false, false) => pick(v, v3_1_1::MQTT_3_2_2_3, v5::MQTT_3_2_2_3),
                    };
                    diff(
                        st,
                        format!("CONNACK session present {}", u8::from(*sp)),
                        format!("session present {}", u8::from(*osp)),
                    );
                }
            }
            (Line::Suback { reason_codes: e, .. }, Line::Suback { reason_codes: o, .. }) if e != o => {
                diff(
                    pick(v, v3_1_1::MQTT_3_8_4_5, v5::MQTT_3_8_4_7),
                    format!("SUBACK codes {e:?}"),
                    format!("codes {o:?}"),
                );
            }
            (Line::Unsuback { reason_codes: e, .. }, Line::Unsuback { reason_codes: o, .. }) if e != o => {
                let allowed = e.len() == o.len()
                    && e.iter().zip(o).all(|(a, b)| matches!(a, 0x00 | 0x11) && matches!(b, 0x00 | 0x11));
                if !allowed {
                    diff(
                        pick(v, v3_1_1::MQTT_3_10_4_4, v5::MQTT_3_11_3_2),
                        format!("UNSUBACK codes {e:?}"),
                        format!("codes {o:?}"),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The publish step of a message, from its topic and payload.
fn publish_step(case: &Case, topic: &str, payload: &str) -> Option<(usize, String)> {
    case.steps.iter().find_map(|s| match &s.op {
        Op::Publish { topic: t, payload: p, .. } if t == topic && p == payload => Some((s.step, s.client.clone())),
        _ => None,
    })
}

fn compare_deliveries(
    case: &Case,
    v: Version,
    client: &str,
    expected: &[&ExpectedDelivery],
    seen: &[&ObservedDelivery],
    out: &mut Vec<Difference>,
) {
    let mut exp: BTreeMap<Key, Vec<&ExpectedDelivery>> = BTreeMap::new();
    for d in expected {
        exp.entry((d.topic.clone(), d.payload.clone(), d.retain)).or_default().push(d);
    }
    let mut obs: BTreeMap<Key, Vec<&ObservedDelivery>> = BTreeMap::new();
    for d in seen {
        obs.entry((d.topic.clone(), d.payload.clone(), d.retain)).or_default().push(d);
    }
    let keys: Vec<Key> =
        exp.keys().chain(obs.keys()).cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    // Per key: how many are missing (below the minimum) and how many too many (above the maximum).
    let mut deficit: BTreeMap<Key, usize> = BTreeMap::new();
    let mut surplus: BTreeMap<Key, usize> = BTreeMap::new();
    for k in &keys {
        let e = exp.get(k).map(Vec::as_slice).unwrap_or(&[]);
        let o = obs.get(k).map_or(0, Vec::len);
        let min = e.iter().filter(|d| d.optional.is_none()).count();
        let max = if e.iter().any(|d| d.qos == Qos::AtLeastOnce && !d.retain) {
            usize::MAX
        } else {
            e.iter().map(|d| d.max_copies as usize).sum()
        };
        if o < min {
            deficit.insert(k.clone(), min - o);
        } else if o > max {
            surplus.insert(k.clone(), o - max);
        }
        // QoS: the highest copy must carry the expected (highest) QoS.
        if let (Some(eq), Some(oq)) =
            (e.iter().map(|d| d.qos).max(), obs.get(k).and_then(|o| o.iter().map(|d| d.qos).max()))
        {
            if eq != oq {
                let overlap = e.iter().any(|d| d.max_copies > 1);
                let st = if overlap {
                    pick(v, v3_1_1::MQTT_3_3_5_1, v5::MQTT_3_3_4_2)
                } else {
                    pick(v, v3_1_1::MQTT_3_8_4_6, v5::MQTT_3_8_4_8)
                };
                let copies: Vec<u8> = obs.get(k).map_or_else(Vec::new, |o| o.iter().map(|d| d.qos.as_u8()).collect());
                out.push(Difference {
                    step: e[0].step,
                    client: client.to_owned(),
                    statement: Some(st),
                    expected: format!("{} at QoS {}", describe_key(k), eq.as_u8()),
                    observed: format!("{} cop(ies) at QoS {copies:?}", copies.len()),
                });
            }
        }
    }
    // A missing message seen with the other RETAIN flag: a wrong flag.
    let flipped: Vec<Key> = deficit.keys().cloned().collect();
    for k in flipped {
        let other = (k.0.clone(), k.1.clone(), !k.2);
        let (Some(&d), Some(&s)) = (deficit.get(&k), surplus.get(&other)) else { continue };
        let n = d.min(s);
        let step = exp.get(&k).map_or(0, |e| e[0].step);
        let st = if k.2 {
            pick(v, v3_1_1::MQTT_3_3_1_8, v5::MQTT_3_3_1_9)
        } else {
            pick(v, v3_1_1::MQTT_3_3_1_9, v5::MQTT_3_3_1_12)
        };
        out.push(Difference {
            step,
            client: client.to_owned(),
            statement: Some(st),
            expected: describe_key(&k),
            observed: format!("{n} with RETAIN {}", u8::from(!k.2)),
        });
        for (map, key) in [(&mut deficit, k.clone()), (&mut surplus, other)] {
            let left = map.get(&key).copied().unwrap_or(0) - n;
            if left == 0 {
                map.remove(&key);
            } else {
                map.insert(key, left);
            }
        }
    }
    for (k, n) in deficit {
        let e = &exp[&k];
        let first = e.iter().find(|d| d.optional.is_none()).unwrap_or(&e[0]);
        let (st, why) = match &first.source {
            Source::Retained => (pick(v, v3_1_1::MQTT_3_3_1_6, v5::MQTT_3_3_1_9), "retained message on subscribe"),
            Source::Will { .. } => (pick(v, v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_8), "will"),
            Source::Publish { publish_step, .. } if *publish_step != first.step => {
                (pick(v, v3_1_1::MQTT_3_1_2_5, v5::MQTT_3_1_2_23), "message queued for the session")
            }
            Source::Publish { .. } => (pick(v, v3_1_1::MQTT_4_5_0_1, v5::MQTT_4_5_0_1), "message"),
        };
        out.push(Difference {
            step: first.step,
            client: client.to_owned(),
            statement: Some(st),
            expected: format!("{why} {} at QoS {}", describe_key(&k), first.qos.as_u8()),
            observed: format!("{n} fewer cop{}", if n == 1 { "y" } else { "ies" }),
        });
    }
    for (k, n) in surplus {
        let o = &obs[&k];
        let e = exp.get(&k);
        let qos = o.iter().map(|d| d.qos).max().unwrap_or(Qos::AtMostOnce);
        let is_will = case.clients.iter().any(|c| c.will.as_ref().is_some_and(|w| w.topic == k.0 && w.payload == k.1));
        let unsubscribed = case
            .steps
            .iter()
            .any(|s| s.client == client && matches!(&s.op, Op::Unsubscribe { filter } if filter_matches(filter, &k.0)));
        let st = match (e, k.2) {
            (Some(_), true) => pick(v, v3_1_1::MQTT_3_3_1_6, v5::MQTT_3_3_1_9),
            (None, true) => pick(v, v3_1_1::MQTT_3_3_1_5, v5::MQTT_3_3_1_5),
            (Some(_), false) if qos == Qos::ExactlyOnce => pick(v, v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_10),
            (Some(_), false) => pick(v, v3_1_1::MQTT_4_3_1_1, v5::MQTT_4_3_1_1),
            (None, false) if is_will => pick(v, v3_1_1::MQTT_3_14_4_3, v5::MQTT_3_14_4_3),
            (None, false) if unsubscribed => pick(v, v3_1_1::MQTT_3_10_4_2, v5::MQTT_3_10_4_2),
            (None, false) => pick(v, v3_1_1::MQTT_3_3_2_3, v5::MQTT_3_3_2_3),
        };
        let expected = match e {
            Some(e) => format!("{} at most {} time(s)", describe_key(&k), e.iter().map(|d| d.max_copies).sum::<u32>()),
            None => format!("no {}", describe_key(&k)),
        };
        out.push(Difference {
            step: o[0].step,
            client: client.to_owned(),
            statement: Some(st),
            expected,
            observed: format!("{n} more (QoS {})", qos.as_u8()),
        });
    }
}

/// Per publisher, topic and QoS, first arrivals of live messages come in
/// publish order.
fn compare_order(case: &Case, v: Version, client: &str, seen: &[&ObservedDelivery], out: &mut Vec<Difference>) {
    let mut last: BTreeMap<(String, String, u8), (usize, String)> = BTreeMap::new();
    let mut first_seen = std::collections::BTreeSet::new();
    for d in seen.iter().filter(|d| !d.retain) {
        if !first_seen.insert((d.topic.clone(), d.payload.clone(), d.qos)) {
            continue;
        }
        let Some((step, publisher)) = publish_step(case, &d.topic, &d.payload) else { continue };
        let key = (publisher.clone(), d.topic.clone(), d.qos.as_u8());
        if let Some((prev_step, prev_payload)) = last.get(&key) {
            if *prev_step > step {
                out.push(Difference {
                    step: d.step,
                    client: client.to_owned(),
                    statement: Some(pick(v, v3_1_1::MQTT_4_6_0_6, v5::MQTT_4_6_0_5)),
                    expected: format!(
                        "{publisher}'s {:?} (step {step}) before {prev_payload:?} (step {prev_step}) on {}",
                        d.payload, d.topic
                    ),
                    observed: "it arrived after".to_owned(),
                });
            }
        }
        if last.get(&key).is_none_or(|(s, _)| *s < step) {
            last.insert(key, (step, d.payload.clone()));
        }
    }
}
