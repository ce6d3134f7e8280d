-- pension_pg.sql - fixture for the worked example pension_pg.lua: an HR
-- pension payment table as a social-security system holds it (PostgreSQL).
-- Columns are pinyin abbreviations: lsh 流水号 (record key), sfzhm 身份证号码,
-- xm 姓名, ffny 发放年月 (YYYYMM text), ffje 发放金额 (yuan), ffrq 发放日期.
-- The last rows are planted mistakes that `gridgate adapter test` must show.
CREATE TABLE yl_ffmx (
  lsh   varchar(20) PRIMARY KEY,
  sfzhm varchar(32),
  xm    varchar(40),
  ffny  char(6),
  ffje  numeric(12,2),
  ffrq  date
);
INSERT INTO yl_ffmx VALUES
  ('YL2024030001', '110105194103051232', '张建国', '202403', 3120.50, '2024-03-10'),
  ('YL2024040001', '110105194103051232', '张建国', '202404', 3120.50, '2024-04-10'),
  ('YL2024030002', '320502193807122040', '李秀兰', '202403', 2856.00, '2024-03-10'),
  -- a legacy 15-digit id number: valid, gridgate widens it to 18 digits
  ('YL2024030003', '110105490101123',    '王德福', '202403', 1988.00, '2024-03-10'),
  -- planted: a malformed id (17 characters)
  ('YL2024030004', '11010519491231002',  '赵玉珍', '202403', 2210.00, '2024-03-10'),
  -- planted: an id with a wrong check character
  ('YL2024030005', '440306194501013316', '陈志强', '202403', 2405.00, '2024-03-10'),
  -- planted: 0.03 yuan, a unit mistake upstream (fen stored in a yuan column)
  ('YL2024030006', '650102194001054420', '刘桂芳', '202403', 0.03,    '2024-03-10'),
  -- planted: month 13 does not exist
  ('YL2024130007', '610103195208156620', '孙丽华', '202413', 2630.00, '2024-03-10'),
  -- planted: no amount
  ('YL2024030008', '420106194001055522', '周文斌', '202403', NULL,    '2024-03-10'),
  -- planted: paid in the future
  ('YL2099010009', '420106194001055522', '周文斌', '209901', 2630.00, '2099-01-10');
