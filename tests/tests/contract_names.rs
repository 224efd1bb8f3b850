//! The topics and consumer groups of the contract (`schemas::Topic::ALL`, `schemas::Group::ALL`)
//! are named again where Rust cannot reach: the local stack's script creates their topics and
//! grants their ACLs, and the chart's topic Job creates them in a cluster. These tests read
//! those files and fail when a name is missing, extra or misspelled there. No stack needed.

use schemas::{Group, Topic};
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every topic the contract needs: the three topics and each group's dead-letter topic.
fn contract_topics() -> BTreeSet<String> {
    Topic::ALL
        .iter()
        .map(|t| t.name().to_owned())
        .chain(Group::ALL.iter().map(|g| g.dead_letter_topic()))
        .collect()
}

/// The words of a bash array assignment `NAME=(a b\n c)`.
fn bash_array(script: &str, name: &str) -> Vec<String> {
    let start = script
        .find(&format!("\n{name}=("))
        .unwrap_or_else(|| panic!("no {name}=( in the script"))
        + name.len()
        + 3;
    let end = start + script[start..].find(')').expect("the array closes");
    script[start..end]
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_stack_creates_exactly_the_contract_topics() {
    let script = read("deploy/local/stack.sh");
    let created: BTreeSet<String> = bash_array(&script, "TOPICS").into_iter().collect();
    assert_eq!(
        created,
        contract_topics(),
        "TOPICS in deploy/local/stack.sh"
    );
}

/// `KAFKA_ACLS` lines as (user, operation) → the resources named.
fn acls(script: &str) -> BTreeMap<(String, String), Vec<String>> {
    let start = script
        .find("\nKAFKA_ACLS=(")
        .expect("KAFKA_ACLS=( in the script");
    let end = start + script[start..].find("\n)").expect("KAFKA_ACLS closes");
    script[start..end]
        .lines()
        .filter_map(|line| line.trim().strip_prefix('"')?.strip_suffix('"'))
        .map(|line| {
            let mut words = line.split_whitespace().map(str::to_owned);
            let user = words.next().expect("a user");
            let operation = words.next().expect("an operation");
            ((user, operation), words.collect())
        })
        .collect()
}

#[test]
fn the_stack_grants_each_group_its_topics_and_dead_letter_topic() {
    let script = read("deploy/local/components/kafka.bash");
    let acls = acls(&script);
    assert!(!acls.is_empty(), "KAFKA_ACLS has no lines");
    let groups: BTreeSet<&str> = Group::ALL.iter().map(|g| g.name()).collect();
    let mut granted = BTreeSet::new();
    for ((user, operation), resources) in &acls {
        for group in resources.iter().filter_map(|r| r.strip_prefix("g:")) {
            // The tool's own group is not a service's.
            if group == "orderflow-cli" {
                continue;
            }
            assert!(
                groups.contains(group),
                "{user} {operation}: g:{group} is not a group of schemas::Group::ALL"
            );
            if user == "orderflow" {
                continue;
            }
            granted.insert(group.to_owned());
            let group = *Group::ALL.iter().find(|g| g.name() == group).unwrap();
            let topics = &acls[&(user.clone(), "Read".to_owned())];
            for topic in group.reads() {
                assert!(
                    topics.contains(&format!("t:{topic}")),
                    "{user} reads group {group} but may not read its topic {topic}"
                );
            }
            let writes = &acls[&(user.clone(), "Write".to_owned())];
            assert!(
                writes.contains(&format!("t:{}", group.dead_letter_topic())),
                "{user} runs group {group} but may not write {}",
                group.dead_letter_topic()
            );
        }
    }
    let all: BTreeSet<String> = groups.iter().map(|g| g.to_string()).collect();
    assert_eq!(granted, all, "groups a service user may read as");
}

/// The quoted words of each `range list "a" "b"` in the chart's `orderflow.topics` helper.
fn chart_lists() -> Vec<Vec<String>> {
    let helpers = read("helm/orderflow/templates/_helpers.tpl");
    let start = helpers
        .find(r#"define "orderflow.topics""#)
        .expect("the orderflow.topics helper");
    let end = start + helpers[start..].find("{{- end }}\n\n").expect("its end");
    helpers[start..end]
        .lines()
        .filter_map(|line| line.split("range list ").nth(1))
        .map(|list| {
            list.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn the_chart_creates_the_contract_topics_and_dead_letter_topics() {
    let lists = chart_lists();
    assert_eq!(lists.len(), 2, "two lists in orderflow.topics: {lists:?}");
    let topics: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
    let groups: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
    assert_eq!(lists[0], topics, "the chart's contract topics");
    assert_eq!(
        lists[1], groups,
        "the chart's groups (one dead-letter topic each)"
    );
}

#[test]
fn the_readers_cover_every_topic_and_the_names_are_distinct() {
    let names: BTreeSet<&str> = Group::ALL.iter().map(|g| g.name()).collect();
    assert_eq!(names.len(), Group::ALL.len());
    for topic in Topic::ALL {
        assert!(
            Group::ALL.iter().any(|g| g.reads().contains(&topic)),
            "no group reads {topic}"
        );
    }
}
