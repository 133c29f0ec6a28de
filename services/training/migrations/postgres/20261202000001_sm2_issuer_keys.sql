-- SM2 issuer keys (a province's choice of national algorithm) publish both coordinates of their
-- public point; Ed25519 keys keep theirs in public_x alone.
ALTER TABLE issuer_keys ADD COLUMN public_y TEXT NOT NULL DEFAULT '';
