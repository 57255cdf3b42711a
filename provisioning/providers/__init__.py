"""Provider plug-ins: one module per provider, all with the shape of ``base.Provider``."""
