//! Every rule's own examples and counterexamples, and the checks on user rule files.

use super::*;

#[test]
fn every_rule_matches_its_examples_and_not_its_counterexamples() {
    let kb = KnowledgeBase::builtin();
    let mut failures = Vec::new();
    for rule in kb.rules() {
        if rule.examples.is_empty() || rule.counterexamples.is_empty() {
            failures.push(format!(
                "{}: needs at least one example and one counterexample",
                rule.id
            ));
        }
        for ex in &rule.examples {
            let got = kb.match_as(rule, ex).map(|r| r.id.as_str());
            if got != Some(rule.id.as_str()) {
                failures.push(format!("{}: example `{ex}` matched {got:?}", rule.id));
            }
        }
        for ex in &rule.counterexamples {
            let got = kb.match_as(rule, ex).map(|r| r.id.as_str());
            if got == Some(rule.id.as_str()) {
                failures.push(format!("{}: counterexample `{ex}` matched", rule.id));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lock_guard_locals_give_the_lock_address() {
    let kb = KnowledgeBase::builtin();
    let (rule, addr) = kb
        .match_local("guard", "{_M_device = @0x55555555a040}")
        .unwrap();
    assert_eq!(rule.id, "libstdcxx.lock-guard-local");
    assert_eq!(addr, Some(0x55555555a040));
}

#[test]
fn every_built_in_pattern_compiles() {
    // They are compiled when first matched, with no way to report an error then.
    for rule in KnowledgeBase::builtin().rules() {
        if let Err(e) = pattern::compile(rule.pattern.as_str()) {
            panic!("{}: {e}", rule.id);
        }
    }
}

#[test]
fn user_rules_come_first_and_bad_rules_are_named() {
    let user = r#"
[[rule]]
id = "acme.pool-worker"
summary = "ACME's pool"
meaning = "member"
pool = "acme pool"
function = '^acme::Crew::toil$'
examples = ["acme::Crew::toil"]
counterexamples = ["acme::Crew::rest"]
"#;
    let kb = KnowledgeBase::load(&[("acme.toml".into(), user.into())]).unwrap();
    assert_eq!(
        kb.match_function("acme::Crew::toil()").unwrap().id,
        "acme.pool-worker"
    );

    let bad = "[[rule]]\nid = \"x\"\nsummary = \"s\"\nmeaning = \"wait\"\nfunction = '^f$'\n";
    let err = KnowledgeBase::load(&[("bad.toml".into(), bad.into())])
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("bad.toml") && err.to_string().contains("`x`"),
        "{err}"
    );

    // A user's pattern is compiled as the file loads: an error names the rule.
    let bad_pattern = user.replace("'^acme::Crew::toil$'", "'^acme::(Crew'");
    let err = KnowledgeBase::load(&[("acme.toml".into(), bad_pattern)])
        .err()
        .unwrap();
    assert!(err.to_string().contains("`acme.pool-worker`"), "{err}");

    let dup = user.to_string() + user;
    let err = KnowledgeBase::load(&[("dup.toml".into(), dup)])
        .err()
        .unwrap();
    assert!(err.to_string().contains("twice"), "{err}");
}

#[test]
fn the_guards_alone_are_the_guard_rules_of_every_pack() {
    let kb = KnowledgeBase::builtin();
    let all: Vec<&str> = kb.guard_rules().map(|r| r.id.as_str()).collect();
    let alone = KnowledgeBase::capture_rules(&[]);
    let alone: Vec<&str> = (alone.iter())
        .filter(|r| r.subject == Subject::Guard)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(all, alone);
    assert!(all.contains(&"rust.mutex-guard"), "{all:?}");
    let guard = kb.match_guard("std::lock_guard<std::mutex>").unwrap();
    let members = guard.members.as_ref().unwrap();
    assert_eq!(
        (members.pointer.as_str(), members.within.as_str()),
        ("_M_device", "")
    );
}

#[test]
fn a_guard_of_several_locks_takes_a_star_only_as_its_last_member() {
    let rule = |pointer: &str| {
        format!(
            "[[rule]]\nid = \"acme.guard\"\nsummary = \"s\"\nmeaning = \"hold\"\nkind = \"mutex\"\n\
             guard = '^acme::Hold<'\npointer = \"{pointer}\"\nexamples = [\"acme::Hold<int>\"]\n\
             counterexamples = [\"acme::Free\"]\n"
        )
    };
    for good in ["_M_devices.*", "*", "a.b.*", "_M_device"] {
        let kb = KnowledgeBase::load(&[("acme.toml".into(), rule(good))]);
        assert!(kb.is_ok(), "{good}: {:?}", kb.err());
    }
    for bad in ["a.*.b", "a*", "a.**", "*.a"] {
        let err = KnowledgeBase::load(&[("acme.toml".into(), rule(bad))])
            .err()
            .unwrap_or_else(|| panic!("{bad} is refused"));
        assert!(err.to_string().contains("`*`"), "{bad}: {err}");
    }
    let kb = KnowledgeBase::builtin();
    let scoped = kb
        .match_guard("std::scoped_lock<std::mutex, std::mutex>")
        .unwrap();
    assert_eq!(scoped.members.as_ref().unwrap().pointer, "_M_devices.*");
}

#[test]
fn sleeps_apart_is_a_wait_with_address_args_and_a_capture_rule() {
    let rule = |extra: &str| {
        format!(
            "[[rule]]\nid = \"acme.lock\"\nsummary = \"s\"\nmeaning = \"wait\"\nkind = \"mutex\"\n\
             function = '^acme::Lock$'\nsleeps_apart = true\n{extra}\nexamples = [\"acme::Lock\"]\n\
             counterexamples = [\"acme::Free\"]\n"
        )
    };
    let ok = rule("address_args = [\"mu\"]");
    assert!(KnowledgeBase::load(&[("acme.toml".into(), ok.clone())]).is_ok());
    let err = KnowledgeBase::load(&[("acme.toml".into(), rule(""))])
        .err()
        .unwrap();
    assert!(err.to_string().contains("sleeps_apart"), "{err}");
    let capture = KnowledgeBase::capture_rules(&[("acme.toml".into(), ok)]);
    assert_eq!(capture[0].id, "acme.lock", "the extra file's first");
    assert!(
        capture
            .iter()
            .any(|r| r.id == "abseil.mutex-lock-guard-ctor"),
        "the built-in waits whose arguments a capture reads"
    );
}
