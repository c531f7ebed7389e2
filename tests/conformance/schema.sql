-- The governed tables and their rows. Loaded twice: into `public` of the `real` database,
-- and into `base` of every oracle database (the loader sets search_path first), so names
-- here are never schema-qualified.
--
-- Tenants 1..4; PII in customers/employees; NULLs, empty strings, short values, several
-- `@`, non-ASCII and a quote in masked columns; one order whose region is a 10 kB string
-- (the `unicode_long` context's region attribute is the same string).

CREATE TABLE tenants (
    id integer PRIMARY KEY,
    name text NOT NULL,
    region text
);

CREATE TABLE customers (
    id integer PRIMARY KEY,
    tenant_id integer NOT NULL,
    name text NOT NULL,
    email text,
    ssn text,
    phone text,
    birth_date date,
    credit_score integer,
    password_hash text,
    created_at timestamp
);

CREATE TABLE orders (
    id integer PRIMARY KEY,
    tenant_id integer NOT NULL,
    customer_id integer,
    amount numeric(10,2),
    status text,
    region text,
    ordered_on date,
    notes text
);

CREATE TABLE employees (
    id integer PRIMARY KEY,
    tenant_id integer NOT NULL,
    name text NOT NULL,
    email text,
    manager_id integer,
    department text,
    salary numeric(10,2),
    bonus integer,
    hire_date date
);

CREATE TABLE salaries (
    employee_id integer,
    amount numeric(10,2),
    paid_on date
);

CREATE TABLE secrets (
    id integer PRIMARY KEY,
    name text,
    value text
);

CREATE TABLE products (
    id integer PRIMARY KEY,
    sku text,
    name text,
    price numeric(8,2)
);

CREATE TABLE tickets (
    id integer PRIMARY KEY,
    tenant_id integer,
    assignee text,
    team text,
    subject text,
    body text,
    opened_on date
);

CREATE TABLE "AuditLog" (
    "EventId" integer PRIMARY KEY,
    "UserName" text,
    action text,
    tenant_id integer NOT NULL,
    "At" timestamp
);

INSERT INTO tenants VALUES
    (1, 'Acme', 'EU'),
    (2, 'Globex', 'US'),
    (3, 'Initech', 'APAC'),
    (4, 'Umbrella', NULL);

INSERT INTO customers VALUES
    (1, 1, 'Ada Lovelace', 'ada@acme.example', '123-45-6789', '+44 20 7946 0001', '1815-12-10', 810, 'pbkdf2$ada', '2021-01-05 10:00:00'),
    (2, 1, 'Charles Babbage', 'charles.babbage@mail.acme.example', '987-65-4321', '+44 20 7946 0002', '1791-12-26', 640, 'pbkdf2$charles', '2021-02-06 11:30:00'),
    (3, 1, 'Grace Hopper', NULL, NULL, NULL, NULL, NULL, 'pbkdf2$grace', NULL),
    (4, 1, 'Émile Zola', 'émile@zola.fr', '12', '555', '1840-04-02', 700, NULL, '2022-03-07 08:15:00'),
    (5, 2, 'Alan Turing', 'alan@globex.example', '111-22-3333', '+1 555 0100', '1912-06-23', 720, 'pbkdf2$alan', '2020-06-23 12:00:00'),
    (6, 2, 'Katherine Johnson', 'no-at-sign', '444-55-6666', '+1 555 0101', '1918-08-26', NULL, 'pbkdf2$kj', '2020-08-26 09:00:00'),
    (7, 2, 'Edsger Dijkstra', 'a@b@globex.example', '', '', '1930-05-11', 690, 'pbkdf2$ewd', '2019-05-11 14:45:00'),
    (8, 2, 'Barbara Liskov', 'barbara@globex.example', '777-88-9999', '+1 555 0102', NULL, 755, 'pbkdf2$bl', '2023-11-01 16:20:00'),
    (9, 3, 'Donald Knuth', 'knuth@initech.example', '222-33-4444', '+81 3 1234 5678', '1938-01-10', 800, 'pbkdf2$dek', '2018-01-10 10:10:10'),
    (10, 3, 'Margaret Hamilton', 'MARGARET@INITECH.EXAMPLE', '333-44-5555', '+81 3 1234 0000', '1936-08-17', 790, 'pbkdf2$mh', '2018-08-17 07:00:00'),
    (11, 3, 'Tim O''Brien', 'tim.o''brien@initech.example', '555-66-7777', NULL, '1950-02-28', 600, 'pbkdf2$tob', '2024-02-29 23:59:59'),
    (12, 4, 'Lonely Customer', 'lonely@umbrella.example', '999-99-9999', '+49 30 0000', '2000-02-29', 500, 'pbkdf2$lc', '2024-01-01 00:00:00');

INSERT INTO orders VALUES
    (101, 1, 1, 120.00, 'paid', 'EU', '2024-01-10', 'first order'),
    (102, 1, 1, 75.50, 'shipped', 'EU', '2024-02-11', NULL),
    (103, 1, 2, 300.00, 'paid', 'US', '2024-02-20', 'bulk'),
    (104, 1, 3, 15.25, 'cancelled', 'EU', '2024-03-01', 'customer changed mind'),
    (105, 1, NULL, 42.00, 'paid', NULL, '2024-03-15', NULL),
    (106, 1, 4, 999.99, 'pending', 'EU', '2024-04-01', 'VIP'),
    (201, 2, 5, 50.00, 'paid', 'EU', '2024-01-05', 'eu order'),
    (202, 2, 5, 60.00, 'paid', 'US', '2024-01-06', NULL),
    (203, 2, 6, 70.00, 'shipped', 'US', '2024-02-07', 'rush'),
    (204, 2, 7, 80.00, 'paid', 'EU', '2024-02-08', NULL),
    (205, 2, 8, NULL, 'pending', 'EU', '2024-03-09', 'amount unknown'),
    (206, 2, 99, 5.00, 'paid', 'US', '2024-03-10', 'orphan customer id'),
    (301, 3, 9, 1000.00, 'paid', 'APAC', '2024-01-15', 'big'),
    (302, 3, 10, 250.00, 'paid', repeat('Zürich-東京 🎉 \ '' " -- ', 360), '2024-02-15', 'long unicode region'),
    (303, 3, 11, 12.34, 'refunded', 'APAC', '2024-03-15', NULL),
    (304, 3, 9, 64.00, 'paid', 'Zürich-東京 🎉', '2024-04-15', 'short unicode region'),
    (401, 4, 12, 1.00, 'paid', 'EU', '2024-01-01', NULL);

INSERT INTO employees VALUES
    (1, 1, 'Ann Boss', 'ann@acme.example', NULL, 'exec', 200000.00, 5000, '2010-03-01'),
    (2, 1, 'Ben Lead', 'ben@acme.example', 1, 'eng', 150000.00, 2000, '2012-06-15'),
    (3, 1, 'Cid Dev', 'cid@acme.example', 2, 'eng', 120000.00, NULL, '2018-09-01'),
    (4, 1, 'Dee Dev', NULL, 2, 'eng', NULL, 1000, '2020-01-20'),
    (5, 1, 'Eve Sales', 'eve@acme.example', 1, 'sales', 90000.00, 3000, NULL),
    (6, 2, 'Fay Chief', 'fay@globex.example', NULL, 'exec', 210000.00, 7000, '2009-11-11'),
    (7, 2, 'Gus Ops', 'gus@globex.example', 6, 'ops', 80000.00, 0, '2015-05-05'),
    (8, 2, 'Hal Ops', 'hal@globex.example', 7, 'ops', 70000.00, 500, '2021-07-07'),
    (9, 3, 'Ida Solo', 'ida@initech.example', NULL, 'eng', 130000.00, NULL, '2019-02-28'),
    (10, 3, 'Jon Junior', 'jon@initech.example', 9, 'eng', 60000.00, 100, '2023-10-01');

INSERT INTO salaries VALUES
    (1, 16666.67, '2024-01-31'),
    (2, 12500.00, '2024-01-31'),
    (6, 17500.00, '2024-01-31'),
    (9, 10833.33, '2024-01-31');

INSERT INTO secrets VALUES
    (1, 'stripe_key', 'sk_live_DO_NOT_LEAK'),
    (2, 'root_password', 'hunter2');

INSERT INTO products VALUES
    (1, 'W-1', 'Widget', 9.99),
    (2, 'G-2', 'Gadget', 24.50),
    (3, 'D-3', 'Doohickey', NULL),
    (4, 'T-4', 'Thingamajig', 100.00),
    (5, 'W-5', 'Widget', 12.00);

INSERT INTO tickets VALUES
    (1, 1, 'carol', 'support', 'Login issue', 'User cannot log in', '2024-01-02'),
    (2, 1, 'alice', 'analyst', 'Report wrong', 'Numbers are off by one', '2024-01-03'),
    (3, 2, 'bob', 'analyst', 'Dashboard', 'Dashboard is slow', '2024-01-04'),
    (4, 2, NULL, 'support', 'Refund', 'Refund please', '2024-01-05'),
    (5, 3, 'carol', 'ops', 'Server', 'Disk full', '2024-01-06'),
    (6, 3, 'zoë-東京-🎉', 'analyst', 'Unicode', 'Ünïcödé body', '2024-01-07'),
    (7, 1, 'o''brien "q" \ --', 'support', 'Hostile name', 'body with \ backslash', '2024-01-08'),
    (8, 2, 'mallory'' OR ''1''=''1', 'none', 'Injection bait', 'mallory body', '2024-01-09'),
    (9, 2, 'dave', 'admin', 'Break glass', NULL, '2024-01-10'),
    (10, 1, 'eve', 'nobody', 'Eve ticket', 'eve body', NULL),
    (11, 4, 'guest', 'visitors', 'Guest ticket', 'guest body', '2024-01-11');

INSERT INTO "AuditLog" VALUES
    (1, 'alice', 'login', 1, '2024-01-01 09:00:00'),
    (2, 'bob', 'login', 2, '2024-01-01 09:05:00'),
    (3, 'alice', 'export', 1, '2024-01-02 10:00:00'),
    (4, 'carol', 'delete', 1, '2024-01-03 11:00:00'),
    (5, NULL, 'system', 2, '2024-01-04 12:00:00'),
    (6, 'zoë', 'login', 3, '2024-01-05 13:00:00'),
    (7, 'Mixed Case', 'LOGIN', 3, '2024-01-06 14:00:00'),
    (8, 'x', 'login', 4, '2024-01-07 15:00:00');
