//! What the packs advise about a finding: the advice of the packs its waits are in, most
//! specific first, else the generic pack's.

use super::classify::Wait;
use crate::knowledge::KnowledgeBase;

/// What the packs advise for a finding in `situation` on `waits`: the advice of the packs the
/// waits are in (most specific first), else the generic pack's.
pub fn advice<'a>(
    kb: &KnowledgeBase,
    waits: impl Iterator<Item = &'a Wait>,
    situation: &str,
) -> Option<String> {
    let mut packs: Vec<&str> = Vec::new();
    for p in waits.flat_map(|w| &w.packs) {
        if !packs.contains(&p.as_str()) {
            packs.push(p);
        }
    }
    kb.advice(packs, situation).map(str::to_string)
}
