//! Which function rules could match a name, told before any regex runs: a pattern anchored at
//! the start (`^absl::…`, `^(boost::mutex|boost::posix)::…`) can match only names that begin
//! with one of the literals its every match begins with. An analysis asks about a few hundred
//! names against a couple of hundred rules; checking those literals first leaves one or two
//! regexes to run (and to compile) per name, where one set of all the patterns cost more to
//! build and to search than the rest of the analysis.

use regex_syntax::hir::literal::Extractor;
use regex_syntax::hir::Look;

/// The literals a name must start with for `pattern` to match it, or `None` when any name
/// could (an unanchored pattern, or one whose starts are too many to list).
pub fn required_prefixes(pattern: &str) -> Option<Vec<Box<[u8]>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let seq = Extractor::new().extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(literals.iter().map(|l| l.as_bytes().into()).collect())
}

/// Whether `name` starts with one of `prefixes` (`None`: no literal is required).
pub fn admits(prefixes: Option<&[Box<[u8]>]>, name: &[u8]) -> bool {
    prefixes.is_none_or(|p| p.iter().any(|l| name.starts_with(l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(p: &str) -> Option<Vec<String>> {
        let mut got: Vec<String> = required_prefixes(p)?
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        got.sort();
        Some(got)
    }

    #[test]
    fn anchored_patterns_give_their_starts() {
        assert_eq!(
            prefixes(r"^absl::(\w+::)?Mutex::Lock$").unwrap(),
            ["absl::"]
        );
        assert_eq!(
            prefixes(r"^(boost::mutex::lock|pthread_mutex_lock)$").unwrap(),
            ["boost::mutex::lock", "pthread_mutex_lock"]
        );
    }

    #[test]
    fn unanchored_or_open_patterns_admit_every_name() {
        assert_eq!(prefixes(r"Mutex::lock$"), None);
        assert_eq!(prefixes(r"^\w+::lock$"), None);
        assert_eq!(prefixes(r"^(foo|.*bar)"), None);
        assert!(admits(None, b"anything"));
    }

    #[test]
    fn every_built_in_function_rule_agrees_with_its_prefilter() {
        let kb = super::super::KnowledgeBase::builtin();
        for rule in kb.rules() {
            let Some(pre) = required_prefixes(rule.pattern.as_str()) else {
                continue;
            };
            for example in &rule.examples {
                let name = crate::names::base_name(example);
                assert!(
                    !rule.pattern.is_match(name.as_bytes()) || admits(Some(&pre), name.as_bytes()),
                    "rule {} matches {example:?} but its prefilter turns it away",
                    rule.id
                );
            }
        }
    }
}
