"""The lowest layer: settings, the database (models, migrations, seed), logging, the Temporal client."""
