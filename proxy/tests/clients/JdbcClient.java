// pgjdbc (Debian's libpostgresql-jdbc-java) through verdict proxy: prints one JSON object.
//
// Usage: java -cp /usr/share/java/postgresql.jar JdbcClient.java HOST PORT USER PASSWORD DB
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcClient {
    static String quote(String s) {
        if (s == null) return "null";
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + args[4];
        Properties props = new Properties();
        props.setProperty("user", args[2]);
        props.setProperty("password", args[3]);
        props.setProperty("sslmode", "disable");
        props.setProperty("ApplicationName", "pgjdbc-test");
        // Server-side prepared statements from the second execution on.
        props.setProperty("prepareThreshold", "2");
        StringBuilder out = new StringBuilder("{");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            // A prepared statement run five times with a parameter: named upstream after
            // the threshold, each execution judged as parsed.
            List<String> counts = new ArrayList<>();
            try (PreparedStatement ps =
                    conn.prepareStatement("SELECT count(*) FROM orders WHERE id > ?")) {
                for (int min = 0; min < 5; min++) {
                    ps.setInt(1, min * 5);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        counts.add(Long.toString(rs.getLong(1)));
                    }
                }
            }
            out.append("\"prepared\": [").append(String.join(", ", counts)).append("], ");
            List<String> masked = new ArrayList<>();
            try (PreparedStatement ps =
                    conn.prepareStatement("SELECT ssn FROM customers WHERE id = ?")) {
                ps.setInt(1, 3);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) masked.add(quote(rs.getString(1)));
                }
            } catch (SQLException e) {
                masked.add(quote(e.getSQLState()));
            }
            out.append("\"masked\": [").append(String.join(", ", masked)).append("], ");
            // A blocked statement: SQLState 42501, the connection stays usable.
            try (PreparedStatement ps = conn.prepareStatement("SELECT * FROM salaries WHERE amount > ?")) {
                ps.setInt(1, 0);
                ps.executeQuery();
                out.append("\"blocked\": null, ");
            } catch (SQLException e) {
                out.append("\"blocked\": {\"state\": ").append(quote(e.getSQLState()))
                   .append(", \"message\": ").append(quote(
                        e instanceof org.postgresql.util.PSQLException p && p.getServerErrorMessage() != null
                        ? p.getServerErrorMessage().getMessage() : e.getMessage()))
                   .append("}, ");
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM customers")) {
                rs.next();
                out.append("\"after\": ").append(rs.getLong(1)).append(", ");
            }
            // Metadata: the tables and the columns the principal may read.
            DatabaseMetaData md = conn.getMetaData();
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(quote(rs.getString("TABLE_NAME")));
            }
            out.append("\"tables\": [").append(String.join(", ", tables)).append("], ");
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "customers", "%")) {
                while (rs.next()) columns.add(quote(rs.getString("COLUMN_NAME")));
            }
            out.append("\"columns\": [").append(String.join(", ", columns)).append("], ");
            out.append("\"product\": ").append(quote(md.getDatabaseProductName()));
        }
        out.append("}");
        System.out.println(out);
    }
}
