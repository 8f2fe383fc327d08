-- The product's two PostgreSQL roles, on a database named by psql's :db variable.
--   psql -v db=smartcab -v app_password=... -v reporter_password=... -f roles.sql
-- smartcab: owns the tables (the web migrates them at start; the notifier and the dose
--   tracker write theirs). smartcab_reporter: reads them, and nothing else, ever: SELECT
--   only, on the tables there now and every table the app role makes later, and every
--   transaction read only. Run once, as a superuser; running it again changes nothing
--   but the passwords.
SELECT 'CREATE ROLE smartcab LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smartcab') \gexec
SELECT 'CREATE ROLE smartcab_reporter LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smartcab_reporter') \gexec
ALTER ROLE smartcab PASSWORD :'app_password';
ALTER ROLE smartcab_reporter PASSWORD :'reporter_password';
ALTER ROLE smartcab_reporter SET default_transaction_read_only = on;
SELECT format('CREATE DATABASE %I OWNER smartcab', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
\connect :db
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT ALL ON SCHEMA public TO smartcab;
GRANT USAGE ON SCHEMA public TO smartcab_reporter;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO smartcab_reporter;
ALTER DEFAULT PRIVILEGES FOR ROLE smartcab IN SCHEMA public
    GRANT SELECT ON TABLES TO smartcab_reporter;
