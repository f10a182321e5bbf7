//! `leadscore generate`.

use crate::support::generated;

#[test]
fn same_seed_writes_the_same_files_and_another_seed_does_not() {
    let a = generated("gen-a", 300, 11);
    let b = generated("gen-b", 300, 11);
    let c = generated("gen-c", 300, 12);
    for file in ["contacts.csv", "events.jsonl", "outcomes.csv"] {
        let read = |dir: &std::path::Path| std::fs::read(dir.join(file)).expect("read");
        assert_eq!(read(&a), read(&b), "{file} differs for one seed");
        assert_ne!(read(&a), read(&c), "{file} is the same for two seeds");
    }
    let contacts = std::fs::read_to_string(a.join("contacts.csv")).expect("read");
    assert_eq!(contacts.lines().count(), 301);
}
