-- Whether a group still has APIs (deleting it) is asked by group and instance: without this
-- index SQLite answers from apis_by_instance, reading every API of the instance.
CREATE INDEX apis_by_group ON apis (group_id, instance_id);
