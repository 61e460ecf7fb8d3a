"""Storage: SQLAlchemy 2 async models on one ``Base.metadata``, engine factory and Alembic runner."""
