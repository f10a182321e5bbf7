//! A JSON Schema of the model file, for editors.
//!
//! `leadscore model schema` prints [`JSON_SCHEMA`] so that TOML editors (taplo, the
//! "Even Better TOML" extension) can complete keys, show descriptions and flag obvious
//! mistakes while a model is being written. It is hand-written (draft 2020-12) rather than
//! generated, to carry good descriptions; the tests below keep its keys in step with the
//! validator, which remains the authority: the schema cannot express cross-references
//! (unknown lists, stages, teams) or regex syntax.

/// The JSON Schema (draft 2020-12) of the TOML model format, version 1.
pub const JSON_SCHEMA: &str = include_str!("../schema.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::JSON_SCHEMA;
    use crate::validate;

    fn schema() -> Value {
        match serde_json::from_str(JSON_SCHEMA) {
            Ok(schema) => schema,
            Err(error) => panic!("schema.json is not valid JSON: {error}"),
        }
    }

    /// The property names of the object schema at `pointer`.
    fn properties(schema: &Value, pointer: &str) -> BTreeSet<String> {
        let Some(Value::Object(properties)) = schema.pointer(&format!("{pointer}/properties"))
        else {
            panic!("no properties at {pointer}");
        };
        properties.keys().cloned().collect()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|key| (*key).to_owned()).collect()
    }

    #[test]
    fn schema_is_json_schema_2020_12() {
        let schema = schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["type"], "object");
    }

    #[test]
    fn every_top_level_key_the_validator_accepts_is_in_the_schema() {
        let schema = schema();
        assert_eq!(properties(&schema, ""), set(validate::TOP_LEVEL_KEYS));
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn rule_and_table_keys_match_the_validator() {
        let schema = schema();
        for (pointer, keys) in [
            ("/properties/score", validate::SCORE_KEYS),
            ("/$defs/fitRule", validate::FIT_KEYS),
            ("/$defs/engagementRule", validate::ENGAGEMENT_KEYS),
            (
                "/$defs/engagementRule/properties/absence",
                validate::ABSENCE_KEYS,
            ),
            (
                "/$defs/engagementRule/properties/limit",
                validate::LIMIT_KEYS,
            ),
            (
                "/$defs/engagementRule/properties/decay",
                validate::DECAY_KEYS,
            ),
            ("/$defs/group", validate::GROUP_KEYS),
            ("/$defs/disqualifyRule", validate::DISQUALIFY_KEYS),
            ("/$defs/stage", validate::STAGE_KEYS),
            ("/$defs/trigger", validate::TRIGGER_KEYS),
            ("/$defs/route", validate::ROUTE_KEYS),
            ("/$defs/assign", validate::ASSIGN_KEYS),
            ("/$defs/team", validate::TEAM_KEYS),
            ("/properties/machine", validate::MACHINE_KEYS),
            ("/properties/machine/properties/burst", validate::BURST_KEYS),
            ("/properties/prediction", validate::PREDICTION_KEYS),
            ("/$defs/account", validate::ACCOUNT_KEYS),
            (
                "/$defs/accountEngagementRule",
                validate::ACCOUNT_ENGAGEMENT_KEYS,
            ),
            (
                "/$defs/accountEngagementRule/properties/top_contacts",
                validate::TOP_CONTACTS_KEYS,
            ),
            (
                "/$defs/accountEngagementRule/properties/engaged_contacts",
                validate::ENGAGED_CONTACTS_KEYS,
            ),
            (
                "/$defs/accountEngagementRule/properties/distinct_roles",
                validate::DISTINCT_ROLES_KEYS,
            ),
            ("/$defs/accountStage", validate::ACCOUNT_STAGE_KEYS),
        ] {
            assert_eq!(properties(&schema, pointer), set(keys), "at {pointer}");
        }
    }

    #[test]
    fn condition_keys_match_the_validator() {
        let schema = schema();
        let mut field = set(validate::FIELD_OPERATORS);
        field.insert("field".to_owned());
        assert_eq!(properties(&schema, "/$defs/fieldCondition"), field);

        // Every key of every condition shape, against every key the validator knows.
        let Some(Value::Array(shapes)) = schema.pointer("/$defs/condition/anyOf") else {
            panic!("no condition shapes");
        };
        let mut keys = BTreeSet::new();
        for shape in shapes {
            let shape = match shape.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let pointer = reference.trim_start_matches('#');
                    schema.pointer(pointer).cloned().unwrap_or(Value::Null)
                }
                None => shape.clone(),
            };
            if let Some(Value::Object(properties)) = shape.get("properties") {
                keys.extend(properties.keys().cloned());
            }
        }
        let known: BTreeSet<String> = validate::condition_keys().map(str::to_owned).collect();
        assert_eq!(keys, known);
    }

    #[test]
    fn every_action_kind_is_in_the_schema() {
        let schema = schema();
        let Some(Value::Array(actions)) = schema.pointer("/$defs/action/oneOf") else {
            panic!("no action shapes");
        };
        let keys: BTreeSet<String> = actions
            .iter()
            .flat_map(|action| {
                action["required"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|key| key.as_str().map(str::to_owned))
            })
            .collect();
        assert_eq!(keys, set(validate::ACTION_KEYS));
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(schema: &Value, node: &Value) {
            match node {
                Value::Object(map) => {
                    if let Some(Value::String(reference)) = map.get("$ref") {
                        let pointer = reference.trim_start_matches('#');
                        assert!(
                            schema.pointer(pointer).is_some(),
                            "dangling $ref {reference}"
                        );
                    }
                    map.values().for_each(|child| walk(schema, child));
                }
                Value::Array(items) => items.iter().for_each(|child| walk(schema, child)),
                _ => {}
            }
        }
        let schema = schema();
        walk(&schema, &schema);
    }
}
