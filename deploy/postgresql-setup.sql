-- postpilot on PostgreSQL: roles, database and least privileges.
--
-- Run as a superuser (for example the postgres user), once before the first `postpilot db upgrade`:
--
--   sudo -u postgres psql -f deploy/postgresql-setup.sql -v app_password="$(openssl rand -hex 24)"
--
-- (the password shows in the process list while psql runs; on a shared host, pass a placeholder and
-- set the real one afterwards with psql's \password postpilot), then give postpilot the URL as a
-- credential, not in the env file, since it carries the password:
--
--   postgresql://postpilot:PASSWORD@HOST:5432/postpilot   in /etc/postpilot/credentials/database_url
--
-- Run it again after the first `postpilot db upgrade` to grant marketers INSERT/UPDATE on
-- scheduled_posts: that table only exists once the migration has created it. Re-running is safe; it
-- creates what is missing and changes the password only when app_password is given.
--
-- Names can be changed with -v db=... -v app_role=... -v marketer_role=... (defaults: postpilot,
-- postpilot, postpilot_marketer). The schema is always called postpilot.
--
-- Who may do what:
--   the admin running this        owns the database; nobody else may create schemas in it.
--   postpilot (LOGIN)             owns the schema postpilot and nothing else: the daemon reads and writes
--                                 its tables, and `postpilot db upgrade` creates and alters them. One role
--                                 for both keeps setup simple; its reach ends at this schema. For a daemon
--                                 without DDL rights, let a separate role own the schema, run migrations
--                                 with that role's URL, and grant postpilot DML through
--                                 ALTER DEFAULT PRIVILEGES FOR ROLE <that role>.
--   postpilot_marketer (NOLOGIN)  a group for people who schedule posts with SQL: read every postpilot
--                                 table (account tokens are stored encrypted), insert and update posts,
--                                 never delete. Give it to a person with
--                                 GRANT postpilot_marketer TO alice;
--   PUBLIC                        nothing: no CONNECT on the database, no use of schema public.

\set ON_ERROR_STOP on

\if :{?db}
\else
\set db postpilot
\endif
\if :{?app_role}
\else
\set app_role postpilot
\endif
\if :{?marketer_role}
\else
\set marketer_role postpilot_marketer
\endif
\if :{?app_password}
\else
\set app_password ''
\endif

-- A new login role needs a password; refuse to create one without it.
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') AND :'app_password' = ''
    AS password_missing \gset
\if :password_missing
\echo 'postgresql-setup.sql: the role does not exist yet; pass its password with -v app_password=...'
DO $$ BEGIN RAISE EXCEPTION 'missing app_password'; END $$;
\endif

-- Roles --------------------------------------------------------------------------------------------
SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') AS app_role_existed \gset
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              :'app_role', :'app_password')
 WHERE NOT :'app_role_existed'::boolean \gexec
-- A password given for an existing role rotates it (update database_url to match).
SELECT format('ALTER ROLE %I PASSWORD %L', :'app_role', :'app_password')
 WHERE :'app_role_existed'::boolean AND :'app_password' <> '' \gexec
SELECT format('CREATE ROLE %I NOLOGIN', :'marketer_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'marketer_role') \gexec

-- Database, owned by whoever runs this script --------------------------------------------------------
-- CREATE DATABASE cannot run inside a DO block, hence \gexec.
SELECT format('CREATE DATABASE %I ENCODING %L TEMPLATE template0', :'db', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app_role", :"marketer_role";
-- Everyone connecting to this database (daemon, marketers, psql) finds postpilot's tables unqualified.
ALTER DATABASE :"db" SET search_path = postpilot;

\connect :"db"

-- Schemas ------------------------------------------------------------------------------------------
-- PostgreSQL 15 already withholds CREATE on public; withhold USAGE too, so postpilot is the only schema.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS postpilot AUTHORIZATION :"app_role";
ALTER SCHEMA postpilot OWNER TO :"app_role";
REVOKE ALL ON SCHEMA postpilot FROM PUBLIC;

-- Marketers ----------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA postpilot TO :"marketer_role";
-- Tables and sequences the migrations create later ...
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_role" IN SCHEMA postpilot
    GRANT SELECT ON TABLES TO :"marketer_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_role" IN SCHEMA postpilot
    GRANT USAGE, SELECT ON SEQUENCES TO :"marketer_role";
-- ... and those that already exist.
GRANT SELECT ON ALL TABLES IN SCHEMA postpilot TO :"marketer_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA postpilot TO :"marketer_role";
SELECT format('GRANT INSERT, UPDATE ON postpilot.scheduled_posts TO %I', :'marketer_role')
 WHERE to_regclass('postpilot.scheduled_posts') IS NOT NULL \gexec
SELECT CASE WHEN to_regclass('postpilot.scheduled_posts') IS NULL
            THEN 'scheduled_posts does not exist yet: run this file again after `postpilot db upgrade`'
            ELSE 'marketers may insert and update postpilot.scheduled_posts'
       END AS next_step;
