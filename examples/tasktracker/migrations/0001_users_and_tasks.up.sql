-- Revision 0001 (release v1.3.0): the users and their tasks, with demo data
-- so that backups and row counts have something to show.
CREATE TABLE users (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tasks (
    id serial PRIMARY KEY,
    owner_id integer NOT NULL REFERENCES users (id),
    title text NOT NULL,
    done boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (email, name)
SELECT 'user' || g || '@example.com', 'User ' || g FROM generate_series(1, 20) g;
INSERT INTO tasks (owner_id, title, done)
SELECT 1 + g % 20, 'task ' || g, g % 3 = 0 FROM generate_series(1, 500) g;
