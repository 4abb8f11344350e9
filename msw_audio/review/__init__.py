"""Review: the human-review store (schema, migrations, logins and permissions, decisions).

Everything a reviewer, coach or researcher reads or changes goes through ``Store`` here, so
permissions and the audit log are applied in one place.
"""
