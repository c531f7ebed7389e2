SELECT c.name, c.email, c.ssn, o.id AS order_id, o.amount, o.status
FROM orders o
JOIN customers c ON c.id = o.customer_id
WHERE o.status = 'shipped'
ORDER BY o.amount DESC
LIMIT 20;
